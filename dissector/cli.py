"""The ``ghrm`` command: a table of thin subcommands, each calling one library function.

``COMMANDS`` declares every subcommand (name, one-line help, options, handler) without importing
it: ``ghrm --help`` lists them from the declarations alone, ``ghrm CMD --help`` adds CMD's
options, and a handler's module (pandas, Scapy, matplotlib ...) is imported only when CMD runs
(``dissector.commands``). The table commands (``stats``, ``memparcels`` ...) come from the table
registry (``dissector.analysis.tables``); ``decode``, ``convert`` and ``protocol`` live here.

Output goes to stdout; warnings about the input (skipped bytes, unreadable records) go to
stderr so that ``--format jsonl`` stays machine-readable. Exit statuses (README "Errors, exit
codes and limits"): 0 decoded (damage is reported as warnings), 1 an input could not be read at
all or writing failed midway, 2 the command line cannot work (an unknown option, a bad filter,
an output that cannot be written); ``main`` turns every error into one line on stderr
(``dissector.boundary``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from dissector import cli_help, cli_options
from dissector.analysis import tables
from dissector.commands import Command, add_commands, subparsers
from dissector.errors import EXIT_INPUT, EXIT_OK, GhrmError

if TYPE_CHECKING:
    from dissector.capture.record import CaptureProblem, Record
    from dissector.decoded import DecodedMessage
    from dissector.decoders.compiled import CompiledMessage


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
        from dissector.analysis.columns import usable_ns
        from dissector.capture.record import Record

        for item in items:
            if self.ns is None and isinstance(item, Record) and usable_ns(item.time_ns) is not None:
                self.ns = item.time_ns
            yield item


def _messages(
    paths: Sequence[str],
    args: argparse.Namespace,
    tally: _Tally,
    err: TextIO,
    context: bool = True,
    quiet_problems: int = 0,
    lean: bool = False,
) -> Iterator[tuple[DecodedMessage | CompiledMessage, dict[str, Any], int | None]]:
    """Each message with its jsonl record (the generated fields of its exchange attached, unless
    ``context`` is False: nothing shown needs them) and its capture's start (ns), which the
    reader has seen by then. The first ``quiet_problems`` capture problems were already told.
    ``lean``: of a file, the record holds only ``frame`` and the generated fields (``-V``)."""
    from dissector.capture.detect import open_records
    from dissector.capture.record import CaptureProblem
    from dissector.decoded import decode_records
    from dissector.decoders import compiled
    from dissector.decoders.lines import GENERATED

    follow = getattr(args, "follow", False)
    for path in paths:
        generated: Callable[[Mapping[str, Any]], dict[str, Any]] = _no_context
        known: dict[int, dict[str, Any]] | None = None
        if context:  # a first pass over the file: only when generated fields are shown
            from dissector.analysis.decode_context import exchange_context, file_context

            if lean:  # -V shows the generated fields and its own tree, not the jsonl record
                known = file_context(path, args.dialect, follow)
            if known is None:
                generated = exchange_context(path, args.dialect, follow)
        empty = dict.fromkeys(GENERATED)
        start = _CaptureStart()
        records = start.watch(open_records(path, follow=follow))
        decode = decode_records if args.verbose else compiled.decode_records  # -V shows Scapy trees
        for item in decode(records, dialect=args.dialect):
            if isinstance(item, CaptureProblem):
                if quiet_problems:
                    quiet_problems -= 1
                    continue
                tally.problems += 1
                _warn(item, err)
                continue
            tally.messages += 1
            if known is not None:
                frame = item.raw.frames[0]
                record = {"frame": frame, **known.get(frame, empty)}
            else:
                record = item.to_json()
                record.update(generated(record))
            yield item, record, start.ns


def _no_context(record: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _seconds(ns: int | None, start_ns: int | None) -> float | None:
    """Seconds since the capture start, computed as the tables compute ``t``."""
    return None if ns is None or start_ns is None else (ns - start_ns) / 1e9


def _verbose(msg: DecodedMessage, record: dict[str, Any], start_ns: int | None) -> str:
    from dissector.analysis.context import generated_lines

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
    tree = msg.packet.show(dump=True) or ""
    return "\n".join(head) + "\n" + tree


_HEAD = 1000  # text: messages streamed before the whole-capture path takes over (first line at once)


def cmd_decode(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm decode FILE...``: one line per RM message, ``-V`` trees, or ``--format jsonl``."""
    from dissector.filter import Filter

    keep: Filter | None = Filter(args.filter, args.dialect) if args.filter else None
    tally = _Tally()
    if keep is None and not args.count and not args.follow and not args.verbose:
        for path in args.files:  # a file whole (decoders.lines); stdin or a pipe, as it comes
            if path != "-" and os.path.isfile(path):
                _decode_whole(path, args, tally, out, err)
            else:
                _decode_streaming([path], args, None, tally, out, err)
    else:
        _decode_streaming(args.files, args, keep, tally, out, err)
    if tally.messages == 0 and tally.problems:
        err.write("ghrm: nothing could be decoded\n")
        return EXIT_INPUT
    return EXIT_OK


def _decode_whole(path: str, args: argparse.Namespace, tally: _Tally, out: TextIO, err: TextIO) -> None:
    """One capture's lines made a kind of message at a time (``decoders.lines``); text lines of
    its first ``_HEAD`` messages are streamed first, so the first line shows at once."""
    from dissector.decoders.lines import decode_lines

    jsonl = args.format == "jsonl"
    head = _Tally()
    if not jsonl:
        _decode_streaming([path], args, None, head, out, err, limit=_HEAD)
        tally.messages += head.messages
        tally.problems += head.problems
        if head.messages < _HEAD:
            return  # all of it
        out.flush()
    whole = decode_lines(path, args.dialect, jsonl)
    if whole is None:
        _decode_streaming(
            [path], args, None, tally, out, err, skip=head.messages, skip_problems=head.problems
        )
        return
    problems, count, lines = whole
    for problem in problems[head.problems :]:
        tally.problems += 1
        _warn(problem, err)
    tally.messages += count - head.messages
    skip = head.messages
    for chunk in lines:  # one write per chunk: each write is checked for control characters
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        chunk.append("")  # the last newline, without copying the joined text to add it
        out.write("\n".join(chunk[skip:]))
        skip = 0


def _decode_streaming(
    paths: Sequence[str],
    args: argparse.Namespace,
    keep: Any,
    tally: _Tally,
    out: TextIO,
    err: TextIO,
    *,
    limit: int = 0,
    skip: int = 0,
    skip_problems: int = 0,
) -> None:
    """Message by message (stdin, ``--follow``, filters, ``-c``, ``-V``): each line as soon as
    its message is whole. ``limit``: stop after that many messages; ``skip``: messages (and
    ``skip_problems`` warnings) already written."""
    from dissector.decoded import DecodedMessage, jsonl_line
    from dissector.decoders.lines import GENERATED, text_line

    shown = 0
    # the generated fields need a first pass over a file (a request's reply comes later); text
    # lines do not show them, so unless a filter reads them the lines stream from the first record
    context = args.format == "jsonl" or args.verbose or bool(keep is not None and keep.names & set(GENERATED))
    lean = args.verbose and keep is None
    for msg, record, start_ns in _messages(
        paths, args, tally, err, context, quiet_problems=skip_problems, lean=lean
    ):
        if skip:
            skip -= 1
            tally.messages -= 1
            continue
        if keep is not None and not keep(record):
            continue
        if args.format == "jsonl":
            out.write(jsonl_line(record) + "\n")
        elif isinstance(msg, DecodedMessage) and args.verbose:
            out.write(_verbose(msg, record, start_ns) + "\n")
        else:
            out.write(text_line(msg, start_ns) + "\n")
        if args.follow:
            out.flush()
        shown += 1
        if (args.count and shown >= args.count) or (limit and shown >= limit):
            break


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


def _decode_options(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Print every RM message. Each carries the generated fields of its exchange, as "
        "Wireshark adds its own: vm (the VM the exchange concerns: request vmid, the VMID a VM_ALLOCATE "
        "reply allocated, or the VM a memory/IRQ call's parcel or IRQ is lent to), request_frame, "
        "reply_frame, latency (s) and errno; -Y filters on them and jsonl carries them after the "
        "contract keys. A file is read twice, like tshark -2, so a request knows its reply; from stdin "
        "or with --follow only what came before is known (a request shows no reply yet)."
    )
    cli_options.inputs(p)
    p.add_argument("-V", "--verbose", action="store_true", help="full field tree of every message")
    p.add_argument("--format", choices=("text", "jsonl"), default="text")
    p.add_argument("--filter", "-Y", help="e.g. 'msg_name == \"VM_START\" and err_code != 0'")
    p.add_argument("--count", "-c", type=int, default=0, help="stop after N messages")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading a growing file")
    cli_options.dialect(p)


def _convert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="capture or kernel log (- for stdin)")
    p.add_argument("-o", "--output", required=True, help="OUT.pcapng or OUT.pcap")
    p.add_argument("--out-format", choices=("pcap", "pcapng"), help="default: from the suffix")


_REPORT = "dissector.report.cli"

# Every subcommand, in the order ``ghrm --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command(
        "decode",
        "print every RM message of captures or kernel logs",
        _decode_options,
        "dissector.cli:cmd_decode",
    ),
    Command(
        "convert",
        "write any readable input as a pcap/pcapng capture",
        _convert_options,
        "dissector.cli:cmd_convert",
    ),
    Command(
        "protocol",
        "print every message id and payload layout (Markdown)",
        cli_options.dialect,
        "dissector.cli:cmd_protocol",
    ),
    *tables.commands(),
    Command(
        "simulate",
        "write a realistic RM capture (and its ground truth) from a seeded model",
        "dissector.sim.cli:add_options",
        "dissector.sim.cli:cmd_simulate",
    ),
    Command(
        "wireshark",
        "the Wireshark/tshark Lua dissector generated from ghrm's protocol tables",
        "dissector.wireshark.cli:add_options",
    ),
    Command(
        "report",
        "one self-contained HTML page (or Markdown / JSON) of captures: verdict, VMs, latency, errors",
        f"{_REPORT}:report_options",
        f"{_REPORT}:cmd_report",
        fleet=True,
    ),
    Command(
        "diff",
        "compare two captures: latency per call (Mann-Whitney U), error rates (Fisher), boots",
        f"{_REPORT}:diff_options",
        f"{_REPORT}:cmd_diff",
    ),
    Command(
        "export",
        "write a capture as a Perfetto/Chrome trace, or one table as CSV/Parquet/JSON",
        f"{_REPORT}:export_options",
        f"{_REPORT}:cmd_export",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ghrm`` parser; each subcommand's options are added when it is chosen."""
    parser = argparse.ArgumentParser(
        prog="ghrm",
        description="Dissect and analyse Gunyah Resource Manager RPC traces.",
    )
    parser.add_argument("--version", action=cli_help.VersionAction, help="show the version and exit")
    add_commands(subparsers(parser, dest="command", required=True), COMMANDS, after=cli_help.append_examples)
    return parser


def register(sub: argparse._SubParsersAction, *names: str) -> None:
    """Add the commands called ``names`` to ``sub``, configured now (for modules' own ``register``)."""
    from dissector.commands import find

    add_commands(sub, [find(COMMANDS, n) for n in names], eager=True, after=cli_help.append_examples)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one ``ghrm`` command inside the error boundary (``dissector/boundary.py``).

    Every OS error, bad argument and ``dissector`` error becomes one line on stderr and a
    documented exit status (README "Exit codes"); a traceback only with ``--debug``.
    """
    from dissector.boundary import run
    from dissector.forked import single_threaded_env

    single_threaded_env()  # before numpy and pyarrow load: their threads would forbid forking
    return run(build_parser, argv, out, err)


__all__ = ["EXIT_INPUT", "EXIT_OK", "GhrmError", "build_parser", "main"]  # GhrmError: callers catch it

if __name__ == "__main__":
    sys.exit(main())
