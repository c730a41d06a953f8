"""Examples at the end of every ``ghrm`` subcommand's ``--help``, and ``ghrm --version``.

Why one table: a person reading ``ghrm stats --help`` wants two or three commands to copy, and
the examples of all subcommands should read alike (bundled traces under ``traces/``, so each one
can be tried at once). ``add_examples`` walks the parser after every module registered its
subcommands (nested ones such as ``wireshark lua`` too) and appends the block to each epilog;
a subcommand added elsewhere puts its own lines here, a table command in its declaration
(``dissector.analysis.tables``); ``tests/test_cli_help.py`` checks that every subcommand has
two or three. Subcommands are configured lazily (``dissector.commands``): the examples are
appended when a subcommand's options are added.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dissector.analysis import tables

_OTHERS: dict[str, tuple[str, ...]] = {
    "decode": (
        "ghrm decode -Y 'vm == 0x84' traces/faults_mix.pcapng   # a VM's requests, replies, memory calls",
        "ghrm decode -V -Y 'frame == 16' traces/start_noresource.pcapng",
        "dmesg -w | ghrm decode --format jsonl -   # live: generated fields from what came before",
    ),
    "convert": (
        "ghrm convert traces/dmesg_hexlog.log -o dmesg.pcapng",
        "ghrm convert traces/hang.pcap -o hang.pcapng",
    ),
    "protocol": (
        "ghrm protocol > messages.md",
        "ghrm protocol --dialect linux-v16",
    ),
    "report": (
        "ghrm report traces/faults_mix.pcapng -o faults.html",
        "ghrm report --format md traces/slow_rm.pcapng -o slow.md   # PNGs in slow_files/",
        "ghrm report --format json traces/start_noresource.pcapng -o noresource.json   # for CI",
    ),
    "diff": (
        "ghrm diff traces/fleet_20vms.pcapng traces/slow_rm.pcapng",
        "ghrm diff before.pcapng after.pcapng --format html -o diff.html",
    ),
    "export": (
        "ghrm export --to perfetto traces/fleet_20vms.pcapng -o trace.json   # ui.perfetto.dev",
        "ghrm export --to parquet --table transactions traces/faults_mix.pcapng -o tx.parquet",
    ),
    "simulate": (
        "ghrm simulate --vms 8 --seed 1 -o sim.pcapng",
        "ghrm simulate --vms 1 --faults 'start_fail@1' -o noresource.pcapng",
        "ghrm simulate --vms 6 --slow-rm 0.004:0.04:60 --format pcap -o slow.pcap",
    ),
    "wireshark": (
        "ghrm wireshark install && wireshark traces/faults_mix.pcapng",
        "ghrm wireshark lua -o gunyah_rm.lua && tshark -X lua_script:gunyah_rm.lua -r traces/hang.pcap",
    ),
    "wireshark lua": (
        "ghrm wireshark lua -o gunyah_rm.lua",
        "ghrm wireshark lua --dialect linux-v16 -o gunyah_rm.lua",
    ),
    "wireshark install": (
        "ghrm wireshark install",
        "ghrm wireshark install --dir ~/.config/wireshark/plugins",
    ),
}
EXAMPLES: dict[str, tuple[str, ...]] = {**_OTHERS, **tables.examples()}


def version() -> str:
    """``ghrm X.Y.Z`` from the installed package's metadata."""
    from importlib import metadata  # reading the metadata takes a while: only for --version

    try:
        return f"ghrm {metadata.version('ghrm')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "ghrm (not installed)"


class VersionAction(argparse.Action):
    """``--version``: print ``version()``, computed only when asked for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser._print_message(version() + "\n", sys.stdout)  # as argparse's own "version" action
        parser.exit()


def path_of(parser: argparse.ArgumentParser) -> str:
    """A subcommand parser's command path (``stats``, ``wireshark lua``): its prog minus ``ghrm``."""
    return parser.prog.partition(" ")[2]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand parser by its command path (``stats``, ``wireshark lua``), configured."""
    from dissector.commands import configure, nested

    out: dict[str, argparse.ArgumentParser] = {}
    for sub in nested(parser):
        out[path_of(configure(sub))] = sub
        out.update(subcommands(sub))
    return out


def append_examples(parser: argparse.ArgumentParser) -> None:
    """Append the ``EXAMPLES`` of ``parser`` and its nested subcommands to their ``--help``
    (kept as written), once."""
    from dissector.commands import nested

    for sub in [parser, *nested(parser)]:
        lines = EXAMPLES.get(path_of(sub))
        if not lines or getattr(sub, "_ghrm_examples", False):
            continue
        sub._ghrm_examples = True  # type: ignore[attr-defined]
        block = "examples:\n" + "\n".join(f"  {line}" for line in lines)
        sub.epilog = f"{sub.epilog.rstrip()}\n\n{block}" if sub.epilog else block
        if sub.formatter_class is argparse.HelpFormatter:
            sub.formatter_class = _KeepLayout


class _KeepLayout(argparse.HelpFormatter):
    """Wrap one-paragraph descriptions as usual; keep text that has its own line breaks."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)
