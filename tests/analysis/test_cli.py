"""``ghrm stats | transactions | lifecycle | errors | findings`` through ``register``."""

from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from dissector.analysis.cli import register
from dissector.capture.writer import write_capture
from tests.analysis.rmconvo import Conversation

COMMANDS = ("stats", "transactions", "lifecycle", "errors", "findings")


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ghrm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    c = Conversation()
    c.boot(0x80)
    c.call("VM_START", err=2, vmid=0x81)
    c.call("VM_START", err=2, vmid=0x81)
    c.send("VM_GET_VMID")
    c.teardown(0x80)
    path = str(tmp_path_factory.mktemp("cli") / "c.pcapng")
    write_capture(path, c.records, fmt="pcapng")
    return path


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> str:
    c = Conversation()
    c.status(0x80, 3)  # one notification: no calls, no errors
    path = str(tmp_path_factory.mktemp("cli") / "q.pcap")
    write_capture(path, c.records, fmt="pcap")
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_text_output_fits_120_columns(capture, command):
    code, out, err = run(command, capture)
    assert code == 0 and err == "" and out.strip()
    assert max(len(line) for line in out.splitlines()) <= 120


def test_stats_shows_the_srt_table(capture):
    _, out, _ = run("stats", capture)
    row = next(line for line in out.splitlines() if line.startswith("VM_START"))
    assert row.split()[2:5] == ["3", "2", "0"]  # calls, errors, unanswered
    assert "total" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_json_and_csv_are_the_tables(capture, command):
    _, out, _ = run(command, capture, "--format", "json")
    rows = json.loads(out)
    assert isinstance(rows, list) and rows
    _, out, _ = run(command, capture, "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == len(rows) and set(parsed[0]) == set(rows[0])


def test_filters_by_vmid_and_time(capture):
    _, out, _ = run("transactions", capture, "--vmid", "0x81", "--format", "json")
    rows = json.loads(out)
    assert {r["vmid"] for r in rows} == {0x81} and len(rows) == 2
    _, out, _ = run("transactions", capture, "--status", "unanswered", "--format", "json")
    assert [r["name"] for r in json.loads(out)] == ["VM_GET_VMID"]
    _, out, _ = run("transactions", capture, "--end", "0.0035", "--format", "json")
    assert [r["name"] for r in json.loads(out)] == ["VM_ALLOCATE", "VM_CONFIG_IMAGE"]
    _, out, _ = run("errors", capture, "--vmid", "0x80")
    assert out.startswith("no error replies matching the filters (VM 0x80)")
    _, out, _ = run("lifecycle", capture, "--vmid", "0x80", "--summary", "--format", "json")
    assert json.loads(out)[0]["final_state"] == "DEALLOCATED"
    _, out, _ = run("findings", capture, "--severity", "warning", "--format", "json")
    assert {r["severity"] for r in json.loads(out)} <= {"error", "warning"}


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        ("stats", "no requests in this capture"),
        ("transactions", "no requests or replies in this capture"),
        ("errors", "no error replies in this capture"),
    ],
)
def test_nothing_of_the_kind_is_one_clear_line(quiet, command, sentence):
    code, out, _ = run(command, quiet)
    assert code == 0 and out == sentence + "\n"
    code, out, err = run(command, quiet, "--format", "json")
    assert code == 0 and out == "[]\n" and err.strip() == sentence


def test_bad_input_is_an_error_message(tmp_path, capture):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02\x03" * 10)
    code, out, err = run("stats", str(junk))
    assert code == 1 and out == "" and err.startswith("ghrm: error:")
    code, _, err = run("stats", capture, "--vmid", "0x99")
    assert code == 1 and "known: 0x3, 0x80, 0x81" in err
    with pytest.raises(SystemExit):
        run("stats", capture, "--vmid", "zz")


@pytest.mark.parametrize("command", ("stats", "errors", "lifecycle"))
def test_an_unreadable_file_is_one_error_line_with_one_prefix(command, tmp_path, monkeypatch):
    """A file that passed the path checks but cannot be read (gone, or unreadable, by then):
    one ``ghrm: error: cannot read`` line, on the ``Trace`` path and on the block scan's."""
    from dissector.analysis import fastpath

    code, out, err = run(command, str(tmp_path / "gone.pcap"))
    assert code != 0 and out == ""
    assert err.startswith("ghrm: error: cannot read ") and err.count("ghrm:") == 1 and err.count("\n") == 1

    if command == "lifecycle":  # reads through the ``Trace`` only
        return
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))

    def unreadable(p, *args, **kwargs):
        raise fastpath._cannot_read(p, PermissionError(13, "Permission denied"))

    monkeypatch.setattr(fastpath, "scan_blocks", unreadable)
    code, out, err = run(command, str(path))
    assert code != 0 and out == ""
    assert err == f"ghrm: error: cannot read {path}: Permission denied\n"


def test_trace_commands_run_with_the_collector_paused(capture, monkeypatch):
    """The tables live until the command ends; full collections walking them were 1.6 s of
    ``ghrm findings`` at 1M. The collector is on again after the command."""
    import gc

    from dissector.analysis import cli

    seen = []

    def render(*a, **k):
        seen.append(gc.isenabled())
        return real(*a, **k)

    real = cli.render
    monkeypatch.setattr(cli, "render", render)
    code, out, _ = run("findings", capture)
    assert code == 0 and out and seen == [False]
    assert gc.isenabled()
