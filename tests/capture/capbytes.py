"""Byte-level builders for test captures, written with struct.pack from the format specs.

Independent of ``dissector.capture.writer`` on purpose: known-answer tests must not share code
with what they test.
"""

from __future__ import annotations

import struct

# protocol.md §10 test vectors (hand-built there, not captured)
ALLOC_REQ = bytes.fromhex("210101000100005600000000")
ALLOC_REP = bytes.fromhex("21020100010000560000000080000000")
START_REP_NORES = bytes.fromhex("210209000400005602000000")
STATUS_NOTIF = bytes.fromhex("21031000080010568000000003000000")
GET_VMID_REQ = bytes.fromhex("2101000024000056")
CONFIG_IMAGE_REQ = bytes.fromhex(
    "210102000900005680000000341200000000000000000000000000000000000000100000000000000020000000000000"
)

T0 = 1_700_000_000  # seconds; realistic epoch times keep resync plausibility checks meaningful


def cap(message: bytes, direction: int = 1, vmid: int = 3, version: int = 1) -> bytes:
    """4-byte capture header (design.md 1.1) + message."""
    return struct.pack("<BBH", version, direction, vmid) + message


# ----------------------------------------------------------------------------- pcap
def pcap_header(endian: str = "<", nano: bool = False, linktype: int = 147, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(
    sec: int,
    frac: int,
    payload: bytes,
    endian: str = "<",
    origlen: int | None = None,
    caplen: int | None = None,
) -> bytes:
    n = len(payload) if caplen is None else caplen
    return struct.pack(endian + "IIII", sec, frac, n, len(payload) if origlen is None else origlen) + payload


def pcap_file(
    records: list[tuple[int, int, bytes]], endian: str = "<", nano: bool = False, linktype: int = 147
) -> bytes:
    return pcap_header(endian, nano, linktype) + b"".join(pcap_record(s, f, p, endian) for s, f, p in records)


# ----------------------------------------------------------------------------- pcapng
def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + pad4(value)


def options(opts: list[tuple[int, bytes]], endian: str = "<") -> bytes:
    if not opts:
        return b""
    return b"".join(option(c, v, endian) for c, v in opts) + b"\0\0\0\0"


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body = pad4(body)
    n = len(body) + 12
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def shb(endian: str = "<", opts: list[tuple[int, bytes]] | None = None) -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options(opts or [], endian)
    return block(0x0A0D0D0A, body, endian)


def idb(
    linktype: int = 147,
    name: str | None = None,
    tsresol: int | None = None,
    endian: str = "<",
    snaplen: int = 0,
    tsoffset: int | None = None,
) -> bytes:
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes((tsresol,))))
    if tsoffset is not None:
        opts.append((14, struct.pack(endian + "q", tsoffset)))
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + options(opts, endian), endian)


def epb(
    ifid: int,
    ts: int,
    payload: bytes,
    endian: str = "<",
    flags: int | None = None,
    comments: tuple[str, ...] = (),
    origlen: int | None = None,
) -> bytes:
    opts: list[tuple[int, bytes]] = [(1, c.encode()) for c in comments]
    if flags is not None:
        opts.append((2, struct.pack(endian + "I", flags)))
    body = struct.pack(
        endian + "IIIII",
        ifid,
        ts >> 32,
        ts & 0xFFFFFFFF,
        len(payload),
        len(payload) if origlen is None else origlen,
    )
    return block(6, body + pad4(payload) + options(opts, endian), endian)


def opb(ifid: int, ts: int, payload: bytes, endian: str = "<", flags: int | None = None) -> bytes:
    opts = [(2, struct.pack(endian + "I", flags))] if flags is not None else []
    body = struct.pack(endian + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF, len(payload), len(payload))
    return block(2, body + pad4(payload) + options(opts, endian), endian)


def spb(payload: bytes, endian: str = "<") -> bytes:
    return block(3, struct.pack(endian + "I", len(payload)) + pad4(payload), endian)


def nrb(endian: str = "<") -> bytes:
    rec = struct.pack(endian + "HH", 1, 8) + bytes((10, 0, 0, 1)) + b"rm\0\0"
    return block(4, rec + struct.pack(endian + "HH", 0, 0), endian)


def isb(ifid: int = 0, endian: str = "<") -> bytes:
    return block(5, struct.pack(endian + "III", ifid, 0, 0), endian)


def dsb(endian: str = "<") -> bytes:
    return block(0x0A, struct.pack(endian + "II", 0x544C534B, 4) + b"abcd", endian)


def custom_block(endian: str = "<") -> bytes:
    return block(0xBAD, struct.pack(endian + "I", 32473) + b"hello!!!", endian)


# ----------------------------------------------------------------------------- upper PDU
def upper_pdu(
    name: str | None, pdu: bytes, p2p: int | None = None, other: tuple[int, bytes] | None = None
) -> bytes:
    """Exported-PDU TLVs as Wireshark writes them (string NUL-padded inside the length)."""
    out = b""
    if other is not None:
        out += struct.pack(">HH", other[0], len(pad4(other[1]))) + pad4(other[1])
    if name is not None:
        v = pad4(name.encode())
        out += struct.pack(">HH", 12, len(v)) + v
    if p2p is not None:
        out += struct.pack(">HHi", 35, 4, p2p)
    return out + struct.pack(">HH", 0, 0) + pdu
