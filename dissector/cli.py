"""The ``ghrm`` command: thin subcommands, each calling one library function.

Output goes to stdout; warnings about the input (skipped bytes, unreadable records) go to
stderr so that ``--format jsonl`` stays machine-readable. The exit status is non-zero only when
nothing could be read at all, or the command line was wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

from dissector import cli_help
from dissector.analysis import cli as analysis_cli
from dissector.analysis.context import generated_lines
from dissector.analysis.decode_context import exchange_context
from dissector.analysis.fastpath import usable_ns
from dissector.analysis.ledgers import cli as ledgers_cli
from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import DecodedMessage, decode_records, jsonl_line
from dissector.errors import EXIT_INPUT, EXIT_OK, GhrmError
from dissector.filter import Filter
from dissector.fleet import cli as fleet_cli
from dissector.protocol.dialects import DIALECTS
from dissector.report import cli as report_cli
from dissector.sim import cli as sim_cli
from dissector.wireshark import cli as wireshark_cli

# Subcommand groups that live beside their library code; each module has ``register(sub)``.
_EXTENSIONS = (analysis_cli, ledgers_cli, sim_cli, wireshark_cli, report_cli, fleet_cli)  # fleet: last


def _warn(problem: CaptureProblem, err: TextIO) -> None:
    where = problem.source or "input"
    err.write(f"ghrm: warning: {where}: {problem.reason}\n")


class _Tally:
    """Counts what a command saw, for the exit status and the closing stderr line."""

    def __init__(self) -> None:
        self.messages = 0
        self.problems = 0


class _CaptureStart:
    """The time of a capture's first record with a time: what the ``t`` column of the ``Trace``
    tables counts from, so that printed times are the tables' ``t`` (every message, shown or not)."""

    def __init__(self) -> None:
        self.ns: int | None = None

    def watch(self, items: Iterable[Record | CaptureProblem]) -> Iterator[Record | CaptureProblem]:
        for item in items:
            if self.ns is None and isinstance(item, Record) and usable_ns(item.time_ns) is not None:
                self.ns = item.time_ns
            yield item


def _messages(
    paths: Sequence[str], args: argparse.Namespace, tally: _Tally, err: TextIO
) -> Iterator[tuple[DecodedMessage, dict[str, Any], int | None]]:
    """Each message with its jsonl record (the generated fields of its exchange attached) and its
    capture's start (ns), which the reader has seen by then."""
    follow = getattr(args, "follow", False)
    for path in paths:
        generated = exchange_context(path, args.dialect, follow)
        start = _CaptureStart()
        records = start.watch(open_records(path, follow=follow))
        for item in decode_records(records, dialect=args.dialect):
            if isinstance(item, CaptureProblem):
                tally.problems += 1
                _warn(item, err)
                continue
            tally.messages += 1
            record = item.to_json()
            record.update(generated(record))
            yield item, record, start.ns


def _seconds(ns: int | None, start_ns: int | None) -> float | None:
    """Seconds since the capture start, computed as the tables compute ``t``."""
    return None if ns is None or start_ns is None else (ns - start_ns) / 1e9


def _text_line(msg: DecodedMessage, start_ns: int | None) -> str:
    raw = msg.raw
    t = _seconds(raw.time_ns, start_ns)
    when = "       -    " if t is None else f"{t:12.6f}"
    direction = {"to_rm": "->RM", "from_rm": "RM->", "unknown": " ?? "}[raw.direction.label]
    client = "vm?" if raw.client_vmid == 0xFFFF else f"vm{raw.client_vmid:#x}"
    return f"{raw.frame:6d} {when} {direction} {client:>7} {msg.summary()}"


def _verbose(msg: DecodedMessage, record: dict[str, Any], start_ns: int | None) -> str:
    raw = msg.raw
    frames = ", ".join(str(f) for f in raw.frames)
    head = [
        f"Message at frame {raw.frame} (records {frames}), {len(raw.data)} bytes reassembled",
        f"    Direction: {raw.direction.label}, client VMID {raw.client_vmid:#x}",
    ]
    if raw.time_ns is not None:
        secs, frac = divmod(raw.time_ns, 10**9)
        when = dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        head.append(f"    Time: {when}.{frac:09d} UTC (epoch {secs}.{frac:09d} s)")
        t = _seconds(raw.time_ns, start_ns)
        if t is not None:
            head.append(f"    Time since capture start: {t:.9f} s")
    if raw.interface:
        head.append(f"    Interface: {raw.interface}")
    for comment in raw.comments:
        head.append(f"    Comment: {comment}")
    if raw.synthetic:
        head.append(f"    Note: {raw.synthetic}")
    head.extend(f"    {line}" for line in generated_lines(record))
    for problem in msg.problems:
        head.append(f"    [Malformed: {problem}]")
    tree = msg.packet.show(dump=True)
    return "\n".join(head) + "\n" + tree


def cmd_decode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm decode FILE...``: one line per RM message, ``-V`` trees, or ``--format jsonl``."""
    keep: Callable[[dict], bool] | None = Filter(args.filter, args.dialect) if args.filter else None
    tally = _Tally()
    shown = 0
    for msg, record, start_ns in _messages(args.files, args, tally, err):
        if keep is not None and not keep(record):
            continue
        if args.format == "jsonl":
            out.write(jsonl_line(record) + "\n")
        elif args.verbose:
            out.write(_verbose(msg, record, start_ns) + "\n")
        else:
            out.write(_text_line(msg, start_ns) + "\n")
        if args.follow:
            out.flush()
        shown += 1
        if args.count and shown >= args.count:
            break
    if tally.messages == 0 and tally.problems:
        err.write("ghrm: nothing could be decoded\n")
        return EXIT_INPUT
    return EXIT_OK


def cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm convert IN -o OUT``: any readable input to pcap/pcapng."""
    from dissector.convert import convert

    result = convert(args.input, args.output, args.out_format)
    for problem in result.problems:
        _warn(problem, err)
    err.write(f"ghrm: wrote {result.records} record(s) to {args.output}\n")
    return EXIT_OK if result.records or not result.problems else EXIT_INPUT


def cmd_protocol(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm protocol``: the message reference generated from the protocol tables."""
    from dissector.protocol.reference import reference_markdown

    out.write(reference_markdown(args.dialect))
    return EXIT_OK


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dialect",
        default="rm",
        choices=sorted(DIALECTS),
        help="settle version conflicts of ids and enums (default: rm)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghrm",
        description="Dissect and analyse Gunyah Resource Manager RPC traces.",
    )
    parser.add_argument("--version", action="version", version=cli_help.version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "decode",
        help="print every RM message of captures or kernel logs",
        description="Print every RM message. Each carries the generated fields of its exchange, as "
        "Wireshark adds its own: vm (the VM the exchange concerns: request vmid, the VMID a VM_ALLOCATE "
        "reply allocated, or the VM a memory/IRQ call's parcel or IRQ is lent to), request_frame, "
        "reply_frame, latency (s) and errno; -Y filters on them and jsonl carries them after the "
        "contract keys. A file is read twice, like tshark -2, so a request knows its reply; from stdin "
        "or with --follow only what came before is known (a request shows no reply yet).",
    )
    p.add_argument(
        "files", nargs="+", help="pcap, pcapng, kernel hex-dump log, text2pcap dump, or - for stdin"
    )
    p.add_argument("-V", "--verbose", action="store_true", help="full field tree of every message")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("--filter", "-Y", help="e.g. 'msg_name == \"VM_START\" and err_code != 0'")
    p.add_argument("--count", "-c", type=int, default=0, help="stop after N messages")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading a growing file")
    _add_common(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("convert", help="write any readable input as a pcap/pcapng capture")
    p.add_argument("input", help="capture or kernel log (- for stdin)")
    p.add_argument("-o", "--output", required=True, help="OUT.pcapng or OUT.pcap")
    p.add_argument("--out-format", choices=("pcap", "pcapng"), help="default: from the suffix")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("protocol", help="print every message id and payload layout (Markdown)")
    _add_common(p)
    p.set_defaults(func=cmd_protocol)

    for module in _EXTENSIONS:
        module.register(sub)
    cli_help.add_examples(parser)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one ``ghrm`` command inside the error boundary (``dissector/boundary.py``).

    Every OS error, bad argument and ``dissector`` error becomes one line on stderr and a
    documented exit status (README "Exit codes"); a traceback only with ``--debug``.
    """
    from dissector.boundary import run

    return run(build_parser, argv, out, err)


__all__ = ["EXIT_INPUT", "EXIT_OK", "GhrmError", "build_parser", "main"]  # GhrmError: callers catch it

if __name__ == "__main__":
    sys.exit(main())
