"""``simulate()``: run a scenario and write its capture, optional kernel log, and truth log.

Outputs: pcapng by default; pcap for ``.pcap``/``.cap``; the Qualcomm driver's dmesg hex-dump
log for ``.log``/``.txt`` (or ``fmt="hexlog"``); ``hexlog=PATH`` writes that log in addition to
the capture. The log is the host's (HLOS) dmesg, so it holds the host queue pair only: guests'
RM traffic would be in their own kernels' logs. The truth log is ``<capture file>.truth.json``.
For a log-only run, truth frames are the numbers the records would have in a capture of the
same run, and log timestamps are seconds since the simulation epoch (the host "booted" at
2026-01-01T00:00:00Z).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dissector.capture.record import Record
from dissector.capture.writer import PcapngWriter, PcapWriter, write_hexlog
from dissector.gcpause import gc_paused
from dissector.protocol.wire import Direction

from .config import EPOCH_NS, SimConfig
from .damage import truncate_end
from .faults import FaultSpec
from .model import Sim
from .truth import FaultRecord, Truth

_DIRECTION = tuple(Direction)  # indexed by the wire value: faster than Direction(value) per record

FORMATS = ("pcapng", "pcap", "hexlog")
HLOS = 3
_SUFFIX = {".pcap": "pcap", ".cap": "pcap", ".pcapng": "pcapng", ".log": "hexlog", ".txt": "hexlog"}


class _Out:
    """The fields of ``Record`` the writers read, without the frozen dataclass's ~3 us setup.

    Why: at a million records the frozen ``Record.__init__`` alone costs seconds; the writers
    only read these attributes.
    """

    __slots__ = ("client_vmid", "comment", "data", "direction", "number", "seq_known", "synthetic", "time_ns")

    def __init__(
        self, number: int, time_ns: int, direction: Direction, client_vmid: int, data: bytes
    ) -> None:
        self.number = number
        self.time_ns = time_ns
        self.direction = direction
        self.client_vmid = client_vmid
        self.data = data
        self.comment = None
        self.synthetic = None
        self.seq_known = True


@dataclass
class SimResult:
    """What a run wrote and what happened in it."""

    capture: str
    format: str
    truth_path: str | None
    hexlog: str | None
    records: int
    truth: Truth

    @property
    def calls(self) -> int:
        return len(self.truth.calls)

    @property
    def instances(self) -> int:
        return len(self.truth.instances)


def format_for(path: str, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the suffix (pcapng when unknown)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        return fmt
    return _SUFFIX.get(os.path.splitext(path)[1].lower(), "pcapng")


def truth_path_for(capture: str) -> str:
    return capture + ".truth.json"


def simulate(
    vms: int = 4,
    seed: int = 0,
    duration: float = 10.0,
    faults: str | FaultSpec | None = None,
    host: str = "v11",
    dialect: str = "rm",
    output: str = "sim.pcapng",
    *,
    fmt: str | None = None,
    hexlog: str | None = None,
    truth: bool = True,
    config: SimConfig | None = None,
    **overrides: Any,
) -> SimResult:
    """Run one simulation and write its files; see ``dissector.sim`` for the model.

    ``config`` replaces the keyword parameters wholesale; ``overrides`` are other ``SimConfig``
    fields (``boots_per_vm``, ``max_records``, ``latency``, ``timing``, ``workload``).
    """
    if config is None:
        config = SimConfig(
            vms=vms,
            seed=seed,
            duration=duration,
            host=host,
            dialect=dialect,
            faults=FaultSpec.parse(faults),
            **overrides,
        )
    elif overrides:
        config = replace(config, **overrides)
    kind = format_for(output, fmt)
    if kind == "hexlog" and config.faults.truncate_end:
        raise ValueError("truncate_end cuts a binary capture; write pcap or pcapng")
    collected: list[Record] | None = [] if (kind == "hexlog" or hexlog) else None
    writer: PcapngWriter | PcapWriter | None = None
    if kind == "pcapng":
        writer = PcapngWriter(output)
    elif kind == "pcap":
        writer = PcapWriter(output)
    write: Callable[[Any], None] | None = writer.write if writer is not None else None  # takes _Out too

    def sink(number: int, time_ns: int, direction: int, client: int, data: bytes) -> None:
        if write is not None:
            write(_Out(number, time_ns, _DIRECTION[direction], client, data))
        if collected is not None and client == HLOS:  # the host's own kernel log
            collected.append(Record(number, time_ns, _DIRECTION[direction], client, data))

    sim = Sim(config, sink)
    try:
        with gc_paused():  # a run only allocates, and the truth log keeps everything alive
            result_truth = sim.run()
    finally:
        if writer is not None:
            writer.close()
    log_path = output if kind == "hexlog" else hexlog
    if log_path is not None and collected is not None:
        with open(log_path, "w", encoding="utf-8") as f:
            write_hexlog(
                f, (replace(r, time_ns=r.time_ns - EPOCH_NS) for r in collected if r.time_ns is not None)
            )
    if config.faults.truncate_end and sim.wire.count:
        damage = truncate_end(output, kind)
        result_truth.faults.append(
            FaultRecord(
                "truncate_end",
                sim.engine.now,
                None,
                detail=damage.detail | {"offset": damage.offset, "cut_bytes": damage.length},
                extra_frames=[damage.frame],
                extra_malformed=damage.detail["malformed_frames"],
            )
        )
        result_truth.damage.append(damage)
    result_truth.capture = {
        "file": os.path.basename(output),
        "format": kind,
        "records": sim.wire.count,
        "first_time": None,
        "last_time": None,
        "epoch": EPOCH_NS / 1e9,
        "hexlog": os.path.basename(log_path) if log_path else None,
        "hexlog_time_origin": EPOCH_NS / 1e9 if log_path else None,
        "stopped_at_max_records": sim.wire.full,
    }
    first, last = sim.wire.first_ns, sim.wire.last_ns
    if first is not None:
        result_truth.capture["first_time"] = first / 1e9
        result_truth.capture["last_time"] = last / 1e9 if last is not None else None
    tpath = truth_path_for(output) if truth else None
    if tpath is not None:
        result_truth.dump(tpath)
    return SimResult(output, kind, tpath, log_path, sim.wire.count, result_truth)
