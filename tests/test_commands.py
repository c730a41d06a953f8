"""``dissector.commands``: subcommands declared by name, configured on use, run lazily."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from dissector.cli import main
from dissector.commands import Command, LazyHandler, add_commands, configure, subparsers

CALLS: list[str] = []
HANG = str(Path(__file__).resolve().parents[1] / "traces" / "hang.pcap")


def options(p: argparse.ArgumentParser) -> None:
    CALLS.append(p.prog)
    p.add_argument("--n", type=int, default=1)


def handler(args: argparse.Namespace, out: io.StringIO, err: io.StringIO) -> int:
    out.write(f"n={args.n}\n")
    return 0


def test_options_are_added_once_when_the_command_is_chosen():
    CALLS.clear()
    parser = argparse.ArgumentParser(prog="t")
    run = f"{__name__}:handler"
    add_commands(
        subparsers(parser, dest="command"),
        [Command("one", "first", options, run), Command("two", "second", options, run)],
    )
    assert CALLS == []  # declaring costs nothing
    args = parser.parse_args(["two", "--n", "3"])
    assert CALLS == ["t two"] and isinstance(args.func, LazyHandler)
    out = io.StringIO()
    assert args.func(args, out, io.StringIO()) == 0 and out.getvalue() == "n=3\n"
    configure(parser._subparsers._group_actions[0].choices["two"])  # type: ignore[union-attr]
    assert CALLS == ["t two"]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["wireshark", "bogus"],
            "ghrm wireshark: error: argument wireshark_command: invalid choice: 'bogus'",
        ),
        (["wireshark", "lua", "--dialect", "nope"], "ghrm wireshark lua: error: argument --dialect: invalid"),
        (["irqs", "--vmid", "zz", "x.pcap"], "ghrm irqs: error: argument --vmid: not a VMID: 'zz'"),
    ],
)
def test_a_bad_command_line_is_one_line_even_in_nested_commands(argv, line):
    err = io.StringIO()
    assert main(argv, io.StringIO(), err) == 2
    assert err.getvalue().startswith(line) and err.getvalue().count("\n") == 1


def test_fleet_only_options_need_fleet():
    err = io.StringIO()
    assert main(["stats", HANG, "--workers", "2"], io.StringIO(), err) == 2
    assert err.getvalue() == "ghrm stats: --workers needs --fleet\n"
