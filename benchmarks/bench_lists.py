"""Memory and time of decoding long lists (issue 19.1): peak bytes per entry at two sizes.

Run: ``python benchmarks/bench_lists.py``. Prints, for a VM_GET_ID reply (variable-size entries)
and a VM_GET_PEERS reply (fixed-size entries), the peak memory ``tracemalloc`` sees while
``dissect`` + ``fields_of`` run, per entry, and the time. Linear decoding shows the same bytes per
entry at both sizes.
"""

from __future__ import annotations

import struct
import time
import tracemalloc

from dissector.layers import dissect, fields_of, payload_layer


def get_id_reply(size: int) -> bytes:
    entry = struct.pack("<BBH", 2, 0, 5) + b"vm-42\0\0\0"
    n = (size - 16) // len(entry)
    return struct.pack("<BBHI", 0x21, 2, 1, 0x56000010) + struct.pack("<II", 0, n) + entry * n


def get_peers_reply(size: int) -> bytes:
    n = (size - 16) // 4
    return struct.pack("<BBHI", 0x21, 2, 1, 0x56000025) + struct.pack("<II", 0, n) + b"\x80\0\0\0" * n


def measure(data: bytes) -> tuple[int, float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    entries = fields_of(payload_layer(dissect(data)))["entries"]
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, elapsed, len(entries)


def main() -> None:
    dissect(get_id_reply(64))  # build the classes outside the measurement
    dissect(get_peers_reply(64))
    print(f"{'message':<14} {'bytes':>8} {'entries':>8} {'peak MB':>8} {'B/entry':>8} {'seconds':>8}")
    for name, build in (("VM_GET_ID", get_id_reply), ("VM_GET_PEERS", get_peers_reply)):
        for size in (16 * 1024, 64 * 1024):
            peak, elapsed, n = measure(build(size))
            print(f"{name:<14} {size:>8} {n:>8} {peak / 1e6:>8.1f} {peak / n:>8.0f} {elapsed:>8.2f}")


if __name__ == "__main__":
    main()
