"""Writers: byte layout, round trips, Scapy and tshark reading our files, kernel-log output."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dissector.capture.detect import open_records
from dissector.capture.hexlog import read_hexlog
from dissector.capture.pcap import read_pcap
from dissector.capture.pcapng import read_pcapng
from dissector.capture.record import CaptureProblem, Direction, Record
from dissector.capture.writer import PcapngWriter, PcapWriter, write_capture, write_hexlog
from tests.capture.capbytes import ALLOC_REP, ALLOC_REQ, CONFIG_IMAGE_REQ, STATUS_NOTIF, T0

NS = 10**9


def sample() -> list[Record]:
    big_req = bytes((0x21, 0x05, 0x07, 0x00)) + (0x56000009).to_bytes(4, "little") + bytes(range(232))
    cont = bytes((0x21, 0x04, 0x07, 0x00)) + (0x56000009).to_bytes(4, "little") + b"tail"
    return [
        Record(1, T0 * NS + 123_456_789, Direction.TO_RM, 3, ALLOC_REQ, comment="first"),
        Record(2, T0 * NS + 223_456_789, Direction.FROM_RM, 3, ALLOC_REP),
        Record(3, T0 * NS + 323_456_001, Direction.FROM_RM, 0x80, STATUS_NOTIF, comment="über\nzwei"),
        Record(4, T0 * NS + 423_456_789, Direction.UNKNOWN, 0xFFFF, CONFIG_IMAGE_REQ),
        Record(5, T0 * NS + 500_000_000, Direction.TO_RM, 0x80, big_req),
        Record(6, T0 * NS + 500_000_500, Direction.TO_RM, 0x80, cont),
        Record(7, None, Direction.TO_RM, 3, b"\x21", synthetic="made up for a test", seq_known=False),
    ]


def records(items) -> list[Record]:
    out = []
    for i in items:
        assert not isinstance(i, CaptureProblem), i
        out.append(i)
    return out


def essentials(r: Record) -> tuple:
    return (r.number, r.time_ns, r.direction, r.client_vmid, r.data, r.comment, r.synthetic, r.seq_known)


def test_pcap_bytes_are_as_specified() -> None:
    buf = io.BytesIO()
    with PcapWriter(buf) as w:
        w.write(Record(1, 5 * NS + 7, Direction.FROM_RM, 0x1234, ALLOC_REP))
    data = buf.getvalue()
    assert data[:24] == struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 147)
    assert data[24:40] == struct.pack("<IIII", 5, 7, 20, 20)
    assert data[40:44] == b"\x01\x02\x34\x12" and data[44:] == ALLOC_REP


def test_pcapng_bytes_are_as_specified() -> None:
    buf = io.BytesIO()
    with PcapngWriter(buf) as w:
        w.write(Record(1, (1 << 33) + 9, Direction.TO_RM, 3, ALLOC_REQ, comment="hi"))
    data = buf.getvalue()
    btype, shb_len, bom, major, minor = struct.unpack_from("<IIIHH", data)
    assert (btype, bom, major, minor) == (0x0A0D0D0A, 0x1A2B3C4D, 1, 0)
    off = shb_len
    btype, idb_len, linktype = struct.unpack_from("<IIH", data, off)
    assert (btype, linktype) == (1, 147)
    idb_body = data[off : off + idb_len]
    assert b"rm-vm3" in idb_body and struct.pack("<HHB", 9, 1, 9) in idb_body
    off += idb_len
    btype, epb_len, ifid, hi, lo, caplen, origlen = struct.unpack_from("<IIIIIII", data, off)
    assert (btype, ifid, hi, lo, caplen, origlen) == (6, 0, 2, 9, 16, 16)
    assert data[off + 28 : off + 44] == b"\x01\x01\x03\x00" + ALLOC_REQ
    opts = data[off + 44 : off + epb_len - 4]
    assert opts == struct.pack("<HHI", 2, 4, 2) + struct.pack("<HH", 1, 2) + b"hi\0\0" + b"\0\0\0\0"
    assert struct.unpack_from("<I", data, off + epb_len - 4)[0] == epb_len
    assert off + epb_len == len(data)


@pytest.mark.parametrize("nano", [True, False])
def test_pcap_round_trip(nano: bool) -> None:
    buf = io.BytesIO()
    with PcapWriter(buf, nanosecond=nano) as w:
        assert w.write_all(sample()) == 7
    buf.seek(0)
    got = records(read_pcap(buf, "rt"))
    for a, b in zip(sample(), got, strict=True):
        t = a.time_ns or 0
        assert b.time_ns == (t if nano else t // 1000 * 1000)
        assert (b.number, b.direction, b.client_vmid, b.data) == (
            a.number,
            a.direction,
            a.client_vmid,
            a.data,
        )


def test_pcapng_round_trip_keeps_everything() -> None:
    buf = io.BytesIO()
    with PcapngWriter(buf, interfaces={0x80: "tvm"}) as w:
        w.write_all(sample())
    buf.seek(0)
    got = records(read_pcapng(buf, "rt"))
    want = [essentials(r) for r in sample()]
    want[6] = (7, 0, *want[6][2:])  # no time is written as 0
    assert [essentials(r) for r in got] == want
    assert [r.interface for r in got] == ["rm-vm3", "rm-vm3", "tvm", "rm-vm-unknown", "tvm", "tvm", "rm-vm3"]


def test_write_capture_by_suffix(tmp_path: Path) -> None:
    for name, fmt in (("a.pcap", "pcap"), ("b.pcapng", "pcapng")):
        assert write_capture(tmp_path / name, sample()) == 7
        with open_records(tmp_path / name) as s:
            assert s.format == fmt
            assert [r.data for r in s] == [r.data for r in sample()]
    with pytest.raises(ValueError, match="suffix"):
        write_capture(tmp_path / "c.txt", sample())
    with pytest.raises(ValueError, match="negative"):
        write_capture(tmp_path / "d.pcap", [Record(1, -1, Direction.TO_RM, 3, ALLOC_REQ)])


def test_scapy_reads_our_pcapng(tmp_path: Path) -> None:
    """An independent reader agrees on interface names, directions, comments and times."""
    from scapy.utils import PcapNgReader

    path = tmp_path / "s.pcapng"
    write_capture(path, sample())
    with PcapNgReader(str(path)) as r:
        pkts = list(r)
    assert len(pkts) == 7
    assert [p.sniffed_on for p in pkts[:4]] == ["rm-vm3", "rm-vm3", "rm-vm128", "rm-vm-unknown"]
    assert [p.direction for p in pkts[:4]] == [2, 1, 1, None]
    assert pkts[0].comments == [b"first"]
    assert bytes(pkts[2])[4:] == STATUS_NOTIF
    assert int(pkts[0].time * 10**6) == (T0 * NS + 123_456_789) // 1000


def _tshark_ok(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    err = "\n".join(
        line for line in out.stderr.splitlines() if "Running as user" not in line and "dangerous" not in line
    )
    assert out.returncode == 0, (cmd, out.stderr)
    assert "appears to be damaged" not in err and "rror" not in err, (cmd, err)
    return out.stdout


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed (CI installs it)")
@pytest.mark.parametrize("name", ["t.pcap", "t.pcapng"])
def test_tshark_reads_our_captures(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_capture(path, sample())
    info = _tshark_ok(["capinfos", str(path)])
    assert "Number of packets:   7" in info or "Number of packets = 7" in info
    lines = _tshark_ok(["tshark", "-r", str(path)]).strip().splitlines()
    assert len(lines) == 7
    if name.endswith(".pcapng"):
        fields = _tshark_ok(
            [
                "tshark",
                "-r",
                str(path),
                "-T",
                "fields",
                "-e",
                "frame.interface_name",
                "-e",
                "frame.p2p_dir",
                "-e",
                "frame.len",
            ]
        ).splitlines()
        assert fields[0].split("\t") == ["rm-vm3", "0", "16"]  # outbound = to the RM
        assert fields[1].split("\t") == ["rm-vm3", "1", "20"]
        assert fields[2].split("\t")[0] == "rm-vm128"


def test_hexlog_writer_round_trip() -> None:
    out = io.StringIO()
    used = write_hexlog(out, sample())
    text = out.getvalue()
    assert used == 5  # two FROM_RM, ALLOC_REQ, big request + its continuation; unknown and stray skipped
    lines = text.splitlines()
    assert lines[0] == f"[{T0}.123456] gh_rm_call TX msg_id: 56000001"
    assert lines[1] == f"[{T0}.123456] gh_rm_call TX: 00000000: 00 00 00 00"
    assert lines[2].startswith(f"[{T0}.223456] gh_rm_recv: 00000000: 21 02 01 00 01 00 00 56")
    got = list(read_hexlog(io.StringIO(text), "log"))
    assert all(isinstance(r, Record) for r in got)
    req, rep, notif, big = got
    assert req.data == bytes.fromhex("2101000001000056") + ALLOC_REQ[8:]
    assert (rep.data, rep.time_ns) == (ALLOC_REP, T0 * NS + 223_456_000)
    assert notif.data == STATUS_NOTIF
    # the request spanning two messages comes back as one payload with fragments = 1
    assert big.data[:8] == bytes((0x21, 0x05, 0, 0)) + (0x56000009).to_bytes(4, "little")
    assert big.data[8:] == bytes(range(232)) + b"tail"


def test_hexlog_writer_rejected_lines() -> None:
    out = io.StringIO()
    rep = Record(1, NS, Direction.FROM_RM, 3, bytes.fromhex("210209000400005602000000"))
    write_hexlog(out, [rep], rejected_lines=True)
    assert (
        out.getvalue().splitlines()[-1]
        == "[    1.000000] gunyah_rsc_mgr: RM rejected message 56000004. Error: 2"
    )
