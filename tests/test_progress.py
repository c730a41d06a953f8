"""The progress bar: silent unless stderr is a terminal, and only after its delay."""

from __future__ import annotations

import io
from pathlib import Path

from dissector.progress import Progress, read_with_progress, reading_label


def test_silent_when_not_a_terminal() -> None:
    err = io.StringIO()
    with Progress(err, total=2, delay=0.0) as p:
        assert not p.enabled
        p.step("reading")
        p.step("writing")
    assert err.getvalue() == "" and not p.shown


def test_quick_work_stays_silent_on_a_terminal() -> None:
    err = io.StringIO()
    with Progress(err, total=1, delay=3600.0, enabled=True) as p:
        p.step("reading")
    assert not p.shown and err.getvalue() == ""


def test_shown_after_the_delay_when_enabled() -> None:
    err = io.StringIO()
    with Progress(err, total=2, delay=0.0, enabled=True) as p:
        p._timer.join()  # the delay has passed
        p.step("reading")
        p.step("writing")
        assert p.shown
    assert "writing" in err.getvalue() or "reading" in err.getvalue()


def test_read_with_progress_returns_the_result_and_stays_quiet_off_a_terminal() -> None:
    err = io.StringIO()
    assert read_with_progress(err, ["a.pcapng"], lambda: 42) == 42
    assert err.getvalue() == ""
    assert (
        reading_label(["x/a.pcapng"]) == "reading a.pcapng"
        and reading_label(["a", "b"]) == "reading 2 captures"
    )


def test_cli_is_silent_when_stderr_is_not_a_terminal(capsys) -> None:
    from dissector.cli import main

    assert main(["stats", str(Path(__file__).resolve().parents[1] / "traces" / "hang.pcap")]) == 0
    assert capsys.readouterr().err == ""
