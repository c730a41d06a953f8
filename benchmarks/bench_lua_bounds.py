"""Time and peak memory of tshark with the generated plugin on hostile shapes, at two sizes:
``python benchmarks/bench_lua_bounds.py [N [PLUGIN.lua]]`` (default 4000, the plugin generated now).

Shapes (issue 19, the Lua half): ``reused_seqs`` (N requests left open, then each key sent again
and answered: the give-up check once rescanned everything between a request and its reuse,
quadratic), ``open_flights`` (N queues each start a 64-record message and never finish: the
reassembly table stays within MAX_IN_FLIGHT queues and MAX_IN_FLIGHT_BYTES) and ``many_keys``
(N distinct calls answered). Each line: shape, messages, seconds, peak RSS of tshark (MB), and
the ratio to the smaller size; linear growth shows ratios near 2.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dissector.capture.record import Direction, Record
from dissector.capture.writer import PcapngWriter
from dissector.wireshark import generate_lua

T0 = 1_767_225_600_000_000_000


def _hdr(msg_type: int, seq: int, msg_id: int, fragments: int = 0) -> bytes:
    return struct.pack("<BBHI", 0x21, (fragments << 2) | msg_type, seq, msg_id)


def reused_seqs(n: int) -> list[tuple[Direction, int, bytes]]:
    out = [(Direction.TO_RM, 3, _hdr(1, i, 0x56000004) + b"\x45\x00\x00\x00") for i in range(n)]
    out += [(Direction.TO_RM, 3, _hdr(1, i, 0x56000004) + b"\x45\x00\x00\x00") for i in range(n)]
    out += [(Direction.FROM_RM, 3, _hdr(2, i, 0x56000004) + bytes(4)) for i in range(n)]
    return out


def open_flights(n: int) -> list[tuple[Direction, int, bytes]]:
    return [(Direction.TO_RM, 0x100 + i, _hdr(1, 1, 0x56000009, 62) + bytes(232)) for i in range(n)]


def many_keys(n: int) -> list[tuple[Direction, int, bytes]]:
    out = []
    for i in range(n):
        out.append((Direction.TO_RM, 3 + i % 50, _hdr(1, i % 65536, 0x56000004) + b"\x45\x00\x00\x00"))
        out.append((Direction.FROM_RM, 3 + i % 50, _hdr(2, i % 65536, 0x56000004) + bytes(4)))
    return out


def run(path: Path, lua: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``tshark -2 -q -z gunyah_rm,srt`` on ``path``."""
    start = time.perf_counter()
    cmd = ["tshark", "-n", "-X", f"lua_script:{lua}", "-r", str(path), "-2", "-q", "-z", "gunyah_rm,srt"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"tshark failed on {path}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    with tempfile.TemporaryDirectory() as folder:
        lua = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(folder) / "gunyah_rm.lua"
        if len(sys.argv) <= 2:  # else: another build of the plugin, to compare
            lua.write_text(generate_lua(), encoding="utf-8")
        for shape in (reused_seqs, open_flights, many_keys):
            previous = None
            for size in (n, 2 * n):
                items = shape(size)
                path = Path(folder) / f"{shape.__name__}_{size}.pcapng"
                with PcapngWriter(path) as w:
                    w.write_all(
                        Record(i + 1, T0 + i * 1000, d, v, data) for i, (d, v, data) in enumerate(items)
                    )
                seconds, rss = run(path, lua)
                ratio = "" if previous is None else f"  x{seconds / previous:.2f} time"
                line = f"{shape.__name__:12s} {len(items):8d} msgs {seconds:7.2f} s  peak RSS {rss:7.1f} MB"
                print(line + ratio)
                previous = seconds


if __name__ == "__main__":
    main()
