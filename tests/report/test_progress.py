"""The progress bar: silent unless stderr is a terminal, and only after its delay."""

from __future__ import annotations

import io

from dissector.report.progress import Progress


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
