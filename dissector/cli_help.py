"""Examples at the end of every ``ghrm`` subcommand's ``--help``, and ``ghrm --version``.

Why one table: a person reading ``ghrm stats --help`` wants two or three commands to copy, and
the examples of all subcommands should read alike (bundled traces under ``traces/``, so each one
can be tried at once). ``add_examples`` walks the parser after every module registered its
subcommands (nested ones such as ``wireshark lua`` too) and appends the block to each epilog;
a subcommand added elsewhere puts its own lines here (``tests/test_cli_help.py`` checks that
every subcommand has two or three).
"""

from __future__ import annotations

import argparse
from importlib import metadata

EXAMPLES: dict[str, tuple[str, ...]] = {
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
    "stats": (
        "ghrm stats traces/fleet_20vms.pcapng",
        "ghrm stats --vmid 0x80 traces/start_noresource.pcapng   # its MEM_LEND/RECLAIM included",
        "ghrm stats --format csv --start 0 --end 0.05 traces/slow_rm.pcapng",
    ),
    "transactions": (
        "ghrm transactions --status error,unanswered,malformed traces/faults_mix.pcapng",
        "ghrm transactions --vmid 0x84 traces/faults_mix.pcapng",
        "ghrm transactions --name VM_START --format json traces/fleet_20vms.pcapng",
    ),
    "lifecycle": (
        "ghrm lifecycle traces/start_noresource.pcapng",
        "ghrm lifecycle --vmid 0x81 traces/hang.pcap",
        "ghrm lifecycle --summary --format csv traces/fleet_20vms.pcapng",
    ),
    "errors": (
        "ghrm errors traces/reclaim_storm.pcapng",
        "ghrm errors --vmid 0x84 --format json traces/faults_mix.pcapng",
    ),
    "findings": (
        "ghrm findings traces/faults_mix.pcapng",
        "ghrm findings --severity warning --vmid 0x80 traces/faults_mix.pcapng",
        "ghrm findings --format json traces/hang.pcap",
    ),
    "memparcels": (
        "ghrm memparcels traces/single_vm_clean.pcapng",
        "ghrm memparcels --vmid 0x84 traces/faults_mix.pcapng",
        "ghrm memparcels --start 1.9 --format csv traces/reclaim_storm.pcapng",
    ),
    "irqs": (
        "ghrm irqs traces/multi_queue.pcapng",
        "ghrm irqs --vmid 0x81 --format json traces/multi_queue.pcapng",
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


def version() -> str:
    """``ghrm X.Y.Z`` from the installed package's metadata."""
    try:
        return f"ghrm {metadata.version('ghrm')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "ghrm (not installed)"


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every subcommand parser by its command path (``stats``, ``wireshark lua``)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix}{name}"
                out[path] = sub
                out.update(subcommands(sub, path + " "))
    return out


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Append the ``EXAMPLES`` of each subcommand to its ``--help`` (kept as written)."""
    for path, sub in subcommands(parser).items():
        lines = EXAMPLES.get(path)
        if not lines:
            continue
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
