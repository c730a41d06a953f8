"""Print records/s for writing and reading pcap and pcapng captures of RM messages.

Why: capture I/O is the first stage of every analysis; it must not be the bottleneck on
million-message traces. Run from the repository root: ``PYTHONPATH=. python
benchmarks/bench_capture.py [N]`` (default 200,000), or without PYTHONPATH after ``pip install -e .``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from dissector.capture.detect import open_records
from dissector.capture.record import Direction, Record
from dissector.capture.writer import PcapngWriter, PcapWriter


def make_records(n: int) -> list[Record]:
    """Alternating 12-byte requests and 16-byte replies on four client VMIDs."""
    out = []
    for i in range(n):
        seq = (i // 2) & 0xFFFF
        if i % 2 == 0:
            data = bytes((0x21, 0x01)) + seq.to_bytes(2, "little") + bytes.fromhex("040000568000 0000")
            d = Direction.TO_RM
        else:
            data = (
                bytes((0x21, 0x02)) + seq.to_bytes(2, "little") + bytes.fromhex("04000056 00000000 80000000")
            )
            d = Direction.FROM_RM
        out.append(Record(i + 1, 1_700_000_000_000_000_000 + i * 25_000, d, 0x80 + (i // 2) % 4, data))
    return out


def bench(n: int) -> None:
    records = make_records(n)
    with tempfile.TemporaryDirectory() as tmp:
        for name, writer_cls in (("pcap", PcapWriter), ("pcapng", PcapngWriter)):
            path = os.path.join(tmp, f"bench.{name}")
            t0 = time.perf_counter()
            with writer_cls(path) as w:
                for r in records:
                    w.write(r)
            t1 = time.perf_counter()
            count = 0
            with open_records(path) as stream:
                for item in stream:
                    if isinstance(item, Record):
                        count += 1
            t2 = time.perf_counter()
            assert count == n, (name, count)
            size = os.path.getsize(path)
            print(
                f"{name:7s} write {n / (t1 - t0):>10,.0f} records/s   read {n / (t2 - t1):>10,.0f} records/s"
                f"   ({size / n:.1f} bytes/record, {size / 1e6:.1f} MB)"
            )


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
