"""How fast the analysis tables are built: ``python benchmarks/bench_analysis.py [N]``.

Builds a pcap of N messages (default 1,000,000) in memory by replicating a simulated capture
(``dissector.sim``; a hand-made conversation if the simulator is missing), shifting times and
seqs per copy so calls stay distinct, then times each stage of the fast path and, on a sample,
the Scapy path. Prints one line per stage: seconds and messages per second.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from dissector.analysis import fastpath
from dissector.analysis.context import payload_reader, resource_vms, with_resources
from dissector.analysis.errors import df_errors
from dissector.analysis.lifecycles import rebuild
from dissector.analysis.messages import build_messages
from dissector.analysis.scapy_path import columns_from_decoded
from dissector.analysis.srt import df_srt
from dissector.analysis.transactions import call_types, transactions_from
from dissector.capture.detect import open_records
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.decoded import decode_records
from dissector.decoders import columnar


def base_records() -> tuple[list[Record], str]:
    """A realistic capture to replicate, and where it came from."""
    try:
        from dissector.sim.run import simulate
    except ImportError:
        simulate = None
    if simulate is not None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "base.pcap")
            simulate(
                vms=8,
                seed=1,
                duration=10.0,
                output=path,
                faults="error=0.01,dup_reply=0.005,lost_reply=0.005",
            )
            with open_records(path) as stream:
                return [r for r in stream if isinstance(r, Record)], "simulated (8 VMs, 10 s, light faults)"
    header = struct.Struct("<BBHI")
    records = []
    for i in range(1000):
        req = header.pack(0x21, 1, i & 0xFFFF, 0x56000004) + struct.pack("<HH", 0x80 + i % 8, 0)
        rep = header.pack(0x21, 2, i & 0xFFFF, 0x56000004) + struct.pack("<I", 2 if i % 10 == 0 else 0)
        records.append(Record(2 * i + 1, 10**9 + 10_000 * i, Direction.TO_RM, 3, req))
        records.append(Record(2 * i + 2, 10**9 + 10_000 * i + 4_000, Direction.FROM_RM, 3, rep))
    return records, "synthetic VM_START calls"


def replicate(records: list[Record], n: int) -> bytes:
    """A pcap of ``n`` records: copies of ``records`` one after another in time, seqs shifted."""
    span = (records[-1].time_ns or 0) - (records[0].time_ns or 0) + 1_000_000
    out: list[Record] = []
    copy = 0
    while len(out) < n:
        shift = (copy * 7919) & 0xFFFF
        for r in records:
            if len(out) >= n:
                break
            data = r.data
            if len(data) >= 8:
                seq = (struct.unpack_from("<H", data, 2)[0] + shift) & 0xFFFF
                data = data[:2] + struct.pack("<H", seq) + data[4:]
            out.append(Record(len(out) + 1, (r.time_ns or 0) + copy * span, r.direction, r.client_vmid, data))
        copy += 1
    buf = io.BytesIO()
    write_capture(buf, out, fmt="pcap")
    return buf.getvalue()


def timed(label: str, count: int, fn: Callable[[], Any], rows: list[tuple[str, float, int]]) -> Any:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, count))
    return result


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 1_000_000
    records, origin = base_records()
    data = replicate(records, n)
    print(
        f"input: {n:,} records ({len(data) / 1e6:.1f} MB pcap) "
        f"replicated from {len(records):,} {origin} records"
    )
    rows: list[tuple[str, float, int]] = []
    rc = timed(
        "scan pcap (record offsets + capture headers)", n, lambda: fastpath.scan_pcap(data, "bench"), rows
    )
    assert rc is not None, "the replicated pcap should be clean"
    cols = timed(
        "decode (RPC headers, vmid/lifecycle fields, malformed)",
        n,
        lambda: columnar.decode(rc, "bench"),
        rows,
    )
    m = len(cols)
    messages, pairing = timed(
        "messages table (pairing, vmid, names)", m, lambda: build_messages([cols]), rows
    )
    vms = timed(
        "generated vm of memory/IRQ calls (handles, codec)",
        m,
        lambda: resource_vms(messages, payload_reader([cols], "rm")),
        rows,
    )
    messages = with_resources(messages, vms)
    tx = timed(
        "transactions table", m, lambda: transactions_from(messages, pairing, call_types(messages)), rows
    )
    timed("srt table", len(tx), lambda: df_srt(tx), rows)
    headline = sum(t for _, t, _ in rows)
    timed("errors table", m, lambda: df_errors(messages), rows)
    timed("lifecycles (intervals + summary)", m, lambda: rebuild(messages, tx), rows)
    sample = records[:5000]
    timed(
        f"Scapy path, {len(sample):,}-record sample (columns only)",
        len(sample),
        lambda: columns_from_decoded(decode_records(sample), "sample"),
        rows,
    )
    width = max(len(label) for label, _, _ in rows)
    for label, seconds, count in rows:
        print(f"  {label:<{width}}  {seconds:8.3f} s  {count / seconds if seconds else 0:>12,.0f} msg/s")
    print(f"messages + transactions + srt from pcap bytes: {headline:.2f} s for {m:,} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
