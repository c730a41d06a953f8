"""Peak RSS and time of ``ghrm decode`` on each hostile input shape of issue 19, at two sizes.

Each run is the real CLI in a subprocess; its peak resident set comes from ``wait4``. Bounded
shapes show flat memory and time growing with the input (linear), not with its square.

    python benchmarks/bench_hostile.py            # both sizes of every shape
    python benchmarks/bench_hostile.py --quick    # smaller sizes
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dissector.capture.record import Direction, Record  # noqa: E402
from dissector.capture.writer import write_capture  # noqa: E402

T0 = 1_700_000_000
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
ALLOC_REQ = bytes.fromhex("210101000100005600000000")


def pcap_record(t: int, payload: bytes) -> bytes:
    data = b"\x01\x02\x03\x00" + payload
    return struct.pack("<IIII", t, 0, len(data), len(data)) + data


def oversized_reply(path: Path, size: int) -> list[str]:
    """A VM_GET_VMID_LIST-style reply of ``size`` bytes in one pcapng block (design: 240 max)."""
    entries = size // 4
    body = struct.pack("<BBHII", 0x21, 2, 1, 0x56000016, 0) + struct.pack("<I", entries) + bytes(4 * entries)
    write_capture(path, [Record(1, T0 * 10**9, Direction.FROM_RM, 3, body)])
    return ["decode", "--format", "jsonl", str(path)]


def resync_gzip(path: Path, size: int) -> list[str]:
    """A gzip whose expansion is ``size`` bytes of resync candidates after one good record."""
    path.write_bytes(gzip.compress(PCAP_HEADER + pcap_record(T0, ALLOC_REQ) + b"\x01\x00" * (size // 2)))
    return ["decode", str(path)]


def pcapng_past_end(path: Path, size: int) -> list[str]:
    """``size`` bytes of blocks that each claim to run past the end of the file."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 147, 0, 0) + struct.pack("<I", 20)
    data = b"\x01\x01\x03\x00" + ALLOC_REQ
    body = struct.pack("<IIIII", 0, 0, 0, len(data), len(data)) + data
    good = struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    unit = struct.pack("<II", 6, 0x00FFFFF0) + bytes(24)
    path.write_bytes(shb + idb + good + unit * (size // len(unit)))
    return ["decode", str(path)]


def pcapng_garbage(path: Path, size: int) -> list[str]:
    """A corrupt block, then ``size`` bytes of block-type words the scan must reject one by one."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 147, 0, 0) + struct.pack("<I", 20)
    data = b"\x01\x01\x03\x00" + ALLOC_REQ
    body = struct.pack("<IIIII", 0, 0, 0, len(data), len(data)) + data
    good = struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    path.write_bytes(shb + idb + good + struct.pack("<II", 6, 13) + b"\x06\x00\x00\x00" * (size // 4) + good)
    return ["decode", str(path)]


def long_boot_log(path: Path, size: int) -> list[str]:
    """``size`` bytes of unrelated kernel log, then the bundled RM log (kern.log after boot)."""
    line = b"[    1.000000] unrelated boot message of an ordinary length\n"
    path.write_bytes(line * (size // len(line)) + (ROOT / "traces" / "dmesg_hexlog.log").read_bytes())
    return ["decode", str(path)]


def long_line(path: Path, size: int) -> list[str]:
    """One line of ``size`` characters without a newline, then the bundled RM log."""
    path.write_bytes(b"x" * size + b"\n" + (ROOT / "traces" / "dmesg_hexlog.log").read_bytes())
    return ["decode", str(path)]


def many_queues(path: Path, queues: int) -> list[str]:
    """``queues`` client VMs, each with a two-fragment reply, all interleaved."""
    records = []
    for part in range(2):
        for vmid in range(queues):
            kind = (1 << 2) | 2 if part == 0 else 1 << 2
            msg = struct.pack("<BBHI", 0x21, kind, vmid & 0xFFFF, 0x56000016) + bytes(232 if part == 0 else 8)
            records.append(
                Record(len(records) + 1, (T0 + len(records)) * 10**9, Direction.FROM_RM, vmid, msg)
            )
    write_capture(path, records)
    return ["decode", str(path)]


def big_filter_set(path: Path, names: int) -> list[str]:
    """A filter with a set of ``names`` message names over the 20-VM trace."""
    expr = "msg_name in {" + " ".join(["VM_START", "VM_STOP"] * (names // 2)) + "}"
    return ["decode", "-Y", expr, str(ROOT / "traces" / "fleet_20vms.pcapng")]


SHAPES: list[tuple[str, Callable[[Path, int], list[str]], tuple[int, int], tuple[int, int], str]] = [
    ("oversized record", oversized_reply, (64 << 10, 1 << 20), (16 << 10, 64 << 10), "bytes"),
    ("resync over gzip garbage", resync_gzip, (16 << 20, 64 << 20), (4 << 20, 16 << 20), "bytes"),
    ("pcapng blocks past the end", pcapng_past_end, (2 << 20, 8 << 20), (1 << 20, 2 << 20), "bytes"),
    ("pcapng garbage after damage", pcapng_garbage, (8 << 20, 32 << 20), (2 << 20, 8 << 20), "bytes"),
    ("RM log after a long boot log", long_boot_log, (8 << 20, 32 << 20), (2 << 20, 8 << 20), "bytes"),
    ("one line without newline", long_line, (8 << 20, 32 << 20), (2 << 20, 8 << 20), "chars"),
    ("interleaved reassembly queues", many_queues, (300, 3000), (100, 300), "queues"),
    ("filter with a big name set", big_filter_set, (1000, 8000), (500, 2000), "names"),
]


def measure(argv: list[str]) -> tuple[float, float, int]:
    """Seconds, peak RSS in MiB and exit status of ``ghrm argv`` in a subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dissector.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def build_in_child(build: Callable[[Path, int], list[str]], path: Path, size: int) -> list[str]:
    """Write the input in a child process: a big input built here would inflate the peak RSS
    the kernel reports for every later child (it counts the pages a fork starts with)."""
    out = subprocess.run(
        [sys.executable, __file__, "--build", build.__name__, str(size), str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.rstrip("\n").split("\0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--build", nargs=3, metavar=("SHAPE", "SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        shape, size, path = args.build
        builder = next(b for _, b, *_ in SHAPES if b.__name__ == shape)
        print("\0".join(builder(Path(path), int(size))))
        return
    base_s, base_rss, _ = measure(["protocol"])
    print(f"interpreter + imports alone: {base_s:.2f} s, {base_rss:.0f} MiB peak RSS\n")
    print(f"{'shape':<32} {'size':>22} {'time':>9} {'peak RSS':>10} {'exit':>5}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, build, sizes, quick, unit in SHAPES:
            for size in quick if args.quick else sizes:
                path = Path(tmp) / f"{build.__name__}-{size}.pcapng"
                argv = build_in_child(build, path, size)
                seconds, rss, code = measure(argv)
                print(f"{name:<32} {size:>15,} {unit:<6} {seconds:>8.2f}s {rss:>7.0f} MiB {code:>5}")
                if path.exists():
                    path.unlink()


if __name__ == "__main__":
    main()
