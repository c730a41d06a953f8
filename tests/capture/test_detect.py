"""Format detection by content, stdin and pipes, gzip, and follow mode on growing files."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dissector.capture.detect import detect_format, open_records
from dissector.capture.errors import UnsupportedCapture
from dissector.capture.record import CaptureProblem, Direction, Record
from tests.capture.capbytes import ALLOC_REP, ALLOC_REQ, STATUS_NOTIF, T0, cap, epb, idb, pcap_file, shb

REPO = Path(__file__).resolve().parents[2]
NS = 10**9

PCAP = pcap_file([(T0, 1, cap(ALLOC_REQ)), (T0, 2, cap(ALLOC_REP, 2))], ">", True)
PCAPNG = shb() + idb(147, "rm-vm3", 9) + epb(0, 5, cap(ALLOC_REQ)) + epb(0, 6, cap(ALLOC_REP, 2))
HEXLOG = (
    b"[    1.000000] Linux version 6.1\n"
    b"[    2.000000] gh_rm_recv: 00000000: 21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00\n"
    b"[    2.500000] gh_rm_recv: 00000000: 21 02 05 00 04 00 00 56 00 00 00 00\n"
)
TEXT2PCAP = b"O 1.5\n0000  01 01 03 00 21 01 01 00 01 00 00 56 00 00 00 00\n"


def data_of(stream) -> list[bytes]:
    return [r.data for r in stream if isinstance(r, Record)]


@pytest.mark.parametrize(
    "blob,fmt,count",
    [(PCAP, "pcap", 2), (PCAPNG, "pcapng", 2), (HEXLOG, "hexlog", 2), (TEXT2PCAP, "text2pcap", 1)],
)
def test_detects_by_content_from_path_and_file(tmp_path: Path, blob: bytes, fmt: str, count: int) -> None:
    path = tmp_path / "capture.bin"  # the suffix says nothing
    path.write_bytes(blob)
    with open_records(path) as s:
        assert s.format == fmt and s.source == str(path)
        got = data_of(s)
    assert len(got) == count and got[0] in (ALLOC_REQ, ALLOC_REP)
    s2 = open_records(io.BytesIO(blob), source="mem")
    assert s2.format == fmt and data_of(s2) == got
    assert detect_format(blob) == fmt


def test_text_file_objects() -> None:
    s = open_records(io.StringIO(HEXLOG.decode()))
    assert s.format == "hexlog" and data_of(s) == [ALLOC_REP, bytes.fromhex("210205000400005600000000")]


def test_forced_format_and_unknown_format_name() -> None:
    log = b"nothing here yet\n" + HEXLOG
    assert open_records(io.BytesIO(log), fmt="hexlog").format == "hexlog"
    with pytest.raises(ValueError, match="unknown format"):
        open_records(io.BytesIO(log), fmt="csv")


@pytest.mark.parametrize(
    "blob,hint",
    [
        (b"", "empty input"),
        (b"just some text\nwithout markers\n", "text without RM log markers"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "starts with 89 50 4e 47"),
    ],
)
def test_unsupported_names_formats_tried(blob: bytes, hint: str) -> None:
    with pytest.raises(UnsupportedCapture) as e:
        open_records(io.BytesIO(blob), source="x")
    msg = str(e.value)
    assert hint in msg and "pcap" in msg and "pcapng" in msg and "text2pcap" in msg


def test_unsupported_pcap_linktype_raises_at_open(tmp_path: Path) -> None:
    path = tmp_path / "eth.pcap"
    path.write_bytes(pcap_file([(T0, 0, bytes(60))], linktype=1))
    with pytest.raises(UnsupportedCapture, match=r"link type 1 \(ETHERNET\)"):
        open_records(path)


def test_gzip_is_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng.gz"
    path.write_bytes(gzip.compress(PCAPNG))
    with open_records(path) as s:
        assert s.format == "gzip+pcapng"
        assert data_of(s) == [ALLOC_REQ, ALLOC_REP]


@pytest.mark.parametrize("blob,fmt", [(PCAP, "pcap"), (HEXLOG, "hexlog")])
def test_stdin_subprocess(blob: bytes, fmt: str) -> None:
    code = (
        "from dissector.capture.detect import open_records\n"
        "s = open_records('-')\n"
        "print(s.format, s.source, sum(1 for r in s if type(r).__name__ == 'Record'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], input=blob, capture_output=True, env=env, timeout=60, check=True
    )
    assert out.stdout.decode().split() == [fmt, "<stdin>", "2"]


def test_pipe_that_trickles_in() -> None:
    """A pipe is not seekable: detection peeks a prefix and chains it back."""
    r_fd, w_fd = os.pipe()
    blob = PCAPNG

    def writer() -> None:
        with os.fdopen(w_fd, "wb", buffering=0) as w:
            for i in range(0, len(blob), 7):
                w.write(blob[i : i + 7])
                time.sleep(0.002)

    t = threading.Thread(target=writer)
    t.start()
    with os.fdopen(r_fd, "rb") as r:
        s = open_records(r)
        assert s.format == "pcapng"
        assert data_of(s) == [ALLOC_REQ, ALLOC_REP]
    t.join()


def _grow(path: Path, chunks: list[bytes], delay: float) -> threading.Thread:
    def run() -> None:
        for c in chunks:
            time.sleep(delay)
            with open(path, "ab") as f:
                f.write(c)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_follow_growing_pcapng(tmp_path: Path) -> None:
    path = tmp_path / "live.pcapng"
    path.write_bytes(shb() + idb(147, "rm-vm3", 9) + epb(0, 1, cap(ALLOC_REQ)))
    later = epb(0, 2, cap(ALLOC_REP, 2)) + epb(0, 3, cap(STATUS_NOTIF, 2))
    # the block arrives in two pieces: the reader must wait for the rest, not call it truncated
    t = _grow(path, [later[:20], later[20:]], 0.3)
    with open_records(path, follow=True, poll_interval=0.05, idle_timeout=1.0) as s:
        items = list(s)
    t.join()
    assert [i.data for i in items if isinstance(i, Record)] == [ALLOC_REQ, ALLOC_REP, STATUS_NOTIF]
    assert not [i for i in items if isinstance(i, CaptureProblem)]


def test_follow_growing_pcap_with_stop(tmp_path: Path) -> None:
    path = tmp_path / "live.pcap"
    path.write_bytes(pcap_file([(T0, 0, cap(ALLOC_REQ))]))
    extra = pcap_file([(T0 + 1, 0, cap(ALLOC_REP, 2))])[24:]
    t = _grow(path, [extra], 0.2)
    seen: list[Record] = []
    with open_records(path, follow=True, poll_interval=0.05, stop=lambda: len(seen) >= 2) as s:
        for item in s:
            assert isinstance(item, Record)
            seen.append(item)
    t.join()
    assert [r.data for r in seen] == [ALLOC_REQ, ALLOC_REP]


def test_follow_growing_text_log_with_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "dmesg.log"
    path.write_bytes(b"[    0.1] gh_rm_call TX msg_id: 56000001\n")
    line = b"[    0.2] gh_rm_call TX: 00000000: 00 00 00 00\n[    0.3] gh_rm_recv: 00000000: "
    rest = b"21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00\n"
    t = _grow(path, [line[:30], line[30:], rest], 0.15)
    start = time.monotonic()
    with open_records(path, follow=True, poll_interval=0.05, idle_timeout=0.8) as s:
        assert s.format == "hexlog"
        items = list(s)
    t.join()
    assert time.monotonic() - start < 5
    r1, r2 = items
    assert r1.direction is Direction.TO_RM and r1.data == bytes.fromhex("210100000100005600000000")
    assert r2.data == ALLOC_REP and r2.time_ns == 300_000_000


def test_follow_empty_file_detects_when_data_arrives(tmp_path: Path) -> None:
    path = tmp_path / "late.pcapng"
    path.write_bytes(b"")
    t = _grow(path, [PCAPNG], 0.2)
    with open_records(path, follow=True, poll_interval=0.05, idle_timeout=0.8) as s:
        assert s.format == "pcapng"
        assert data_of(s) == [ALLOC_REQ, ALLOC_REP]
    t.join()


def test_follow_gives_up_on_a_cut_record_after_idle_timeout(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcapng"
    path.write_bytes(PCAPNG[:-6])
    with open_records(path, follow=True, poll_interval=0.05, idle_timeout=0.3) as s:
        items = list(s)
    assert [i.data for i in items if isinstance(i, Record)] == [ALLOC_REQ]
    (p,) = [i for i in items if isinstance(i, CaptureProblem)]
    assert p.fatal and "6 missing" in p.reason
