"""``ghrm simulate``: the command-line face of ``dissector.sim.simulate``.

``register(subparsers)`` adds the subcommand to the ``ghrm`` parser (the lead wires it into
``dissector/cli.py``); its handler follows the CLI convention ``handler(args, out, err) -> int``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TextIO

from dissector.errors import EXIT_OK, EXIT_USAGE

from .config import DIALECTS, HOSTS
from .faults import KINDS, FaultSpec, FaultSpecError
from .latency import MAX_FACTOR, MAX_SECONDS, LatencyModel, Spike
from .run import FORMATS, simulate

EPILOG = f"""\
fault SPEC: comma-separated items
  KIND=RATE           a probability per call, reply, request, VM instance, message or record
  KIND@N[+N...]       exactly the N-th VM instance(s) in boot order (per-instance kinds)
  error:CALL=RATE     an error rate for one call, e.g. error:VM_START=0.5
  truncate_end        cut the capture's last record in half
kinds: {", ".join(KINDS)}
  error          the RM answers with an error code that call really returns
  lost_reply     the reply is lost; the caller gives up after its call timeout
  dup_reply      the RM sends the reply twice
  reused_seq     the client reuses the seq of its previous request
  crash          the guest panics and the watchdog bites (VM_EXITED WATCHDOG_BITE)
  start_fail     VM_START answered NORESOURCE (status INIT_FAILED) after memory was lent
  init_fail      VM_INIT fails (status INIT_FAILED)
  hang           the guest stops booting, or the RM never finishes VM_RESET
  reclaim_storm  the host re-reclaims every parcel; each retry gets HANDLE_INVALID
  lost_fragment  a continuation record is missing from the capture
  garbage        a garbage record (bad api byte, or too short) appears in the capture
example: --faults 'error=0.02,lost_reply=0.01,crash=0.1,start_fail@2,truncate_end'

outputs: FILE (.pcapng default, .pcap, .log = kernel hex-dump log) and FILE.truth.json, the
ground truth (every VM state change, call, notification, fault, parcel and IRQ with frames).
"""


def bounded_float(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` if ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            lo = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"{text!r} is outside {lo}{low:g}, {high:g}]")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``simulate`` to the ``ghrm`` subcommands."""
    p = subparsers.add_parser(
        "simulate",
        help="write a realistic RM capture (and its ground truth) from a seeded model",
        description="Simulate the Gunyah Resource Manager, the host VM manager and guest VMs "
        "(protocol.md 1.6, 4, 5, 8) and write the RM traffic as a capture. The same seed and "
        "options always give byte-identical files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", default="sim.pcapng", help="capture to write (default sim.pcapng)")
    p.add_argument("--vms", type=int, default=4, help="VM slots booting concurrently, 1-64 (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--duration",
        type=bounded_float(0, MAX_SECONDS),
        default=10.0,
        help="seconds of activity; then running VMs shut down (default 10)",
    )
    p.add_argument("--faults", default="", metavar="SPEC", help="faults to inject (see below; default none)")
    p.add_argument("--host", choices=HOSTS, default="v11", help="host VM manager call sequence (default v11)")
    p.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="rm",
        help="ids and names: linux-v16 sends VM_SET_BOOT_CONTEXT as 0x5600000C (default rm)",
    )
    p.add_argument("--format", choices=FORMATS, default=None, help="output format (default: from the suffix)")
    p.add_argument("--hexlog", metavar="FILE", help="also write the kernel dmesg hex-dump log of the run")
    p.add_argument(
        "--boots-per-vm", type=int, default=0, help="VM instances per slot (default 0: until --duration)"
    )
    p.add_argument("--max-records", type=int, default=None, help="stop after this many capture records")
    p.add_argument(
        "--slow-rm",
        action="append",
        default=[],
        metavar="AT:DURATION:FACTOR",
        help="multiply RM service times by FACTOR for DURATION seconds from AT (repeatable)",
    )
    p.add_argument(
        "--latency-scale",
        type=bounded_float(0, MAX_FACTOR, low_open=True),
        default=1.0,
        metavar="X",
        help="multiply every median RM service time by X (default 1)",
    )
    p.add_argument("--no-truth", action="store_true", help="do not write FILE.truth.json")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``simulate`` with the parsed options and print what was written."""
    try:
        faults = FaultSpec.parse(args.faults)
        spikes = tuple(Spike.parse(s) for s in args.slow_rm)
        result = simulate(
            vms=args.vms,
            seed=args.seed,
            duration=args.duration,
            faults=faults,
            host=args.host,
            dialect=args.dialect,
            output=args.output,
            fmt=args.format,
            hexlog=args.hexlog,
            truth=not args.no_truth,
            boots_per_vm=args.boots_per_vm,
            max_records=args.max_records,
            latency=LatencyModel(scale=args.latency_scale, spikes=spikes),
        )
    except (FaultSpecError, ValueError) as exc:
        err.write(f"ghrm simulate: error: {exc}\n")
        return EXIT_USAGE
    out.write(
        f"wrote {result.records} records ({result.calls} calls, {result.instances} VM instances) "
        f"to {result.capture} ({result.format})\n"
    )
    if result.hexlog and result.hexlog != result.capture:
        out.write(f"kernel log: {result.hexlog}\n")
    if result.truth_path:
        out.write(f"ground truth: {result.truth_path}\n")
    return EXIT_OK
