"""Option blocks the ``ghrm`` subcommands share, declared once.

Why here: the capture arguments, ``--dialect``, the table options (``--format --vmid --client
--start --end``) and the fleet options mean the same on every command that takes them; declared
once, their help and parsing cannot drift apart. The module imports nothing heavy (no pandas,
numpy or Scapy): ``ghrm CMD --help`` builds its parser from these blocks alone.
"""

from __future__ import annotations

import argparse

INPUTS = "pcap, pcapng, kernel hex-dump log, text2pcap dump, or - for stdin"
TABLE_FORMATS = ("text", "csv", "json")


def vmid_list(text: str) -> list[int]:
    """An argparse type: VMIDs separated by commas or spaces, hex (0x82) or decimal (130)."""
    try:
        return [int(part, 0) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a VMID: {text!r} (use 0x82 or 130)") from None


def word_list(text: str) -> list[str]:
    """An argparse type: words separated by commas or spaces (``--status error,unanswered``)."""
    return text.replace(",", " ").split()


def inputs(p: argparse.ArgumentParser, help: str = INPUTS) -> None:
    """``FILES...``: the captures or kernel logs to read."""
    p.add_argument("files", nargs="+", help=help)


def dialect(p: argparse.ArgumentParser) -> None:
    """``--dialect``: which names ids and enum values get (protocol/dialects.py)."""
    from dissector.protocol.dialects import DIALECTS  # the protocol tables: only when a command needs them

    p.add_argument(
        "--dialect", default="rm", choices=sorted(DIALECTS), help="names of ids and enum values (default: rm)"
    )


def engine(p: argparse.ArgumentParser) -> None:
    """``--engine``: hidden; the Scapy engine for debugging the fast path."""
    p.add_argument("--engine", default="auto", choices=("auto", "fast", "scapy"), help=argparse.SUPPRESS)


def table_options(p: argparse.ArgumentParser) -> None:
    """Every table command's options: the inputs, output format, VM/client/time selection."""
    inputs(p)
    p.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        default="text",
        help="output format (default text); csv/json keep every column, numbers as numbers (text "
        "shows VMIDs and ids in hex), time as ISO 8601 UTC and other instants in s since the capture start",
    )
    p.add_argument(
        "--vmid",
        type=vmid_list,
        action="extend",
        help="only rows about these VMIDs (0x82,0x83), including the memory and IRQ calls on "
        "parcels and IRQs lent to, shared with or accepted by them (the lender issued those)",
    )
    p.add_argument(
        "--client",
        type=vmid_list,
        action="extend",
        help="only messages on these clients' queues (memparcels, irqs: parcels and IRQs they lent)",
    )
    p.add_argument("--start", type=float, help="seconds since the capture start (inclusive)")
    p.add_argument("--end", type=float, help="seconds since the capture start (exclusive)")
    dialect(p)
    engine(p)


FLEET_ONLY = ("scheduler", "workers", "device_from")  # meaningless without --fleet


def fleet_options(p: argparse.ArgumentParser) -> None:
    """``--fleet`` and its Dask options (``dissector.fleet``)."""
    group = p.add_argument_group("fleet (many captures, on Dask)")
    group.add_argument(
        "--fleet",
        action="store_true",
        help="FILES are captures, folders or quoted globs from many devices: answer across them",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler (tcp://host:8786) or 'synchronous'; default: a local cluster",
    )
    group.add_argument(
        "--workers", type=int, metavar="N", help="local cluster worker processes (default: one per core)"
    )
    group.add_argument(
        "--device-from",
        metavar="REGEX",
        help="regex on each path naming its device ('device' or first group); "
        "default: pcapng shb_hardware, else the file's folder",
    )
