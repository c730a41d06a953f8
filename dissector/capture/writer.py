"""Writers: pcap and pcapng (DLT 147, design.md 1.1) and Qualcomm-driver-style kernel logs.

Why: the simulator writes realistic captures, ``ghrm`` converts between formats, and tests
need files that tshark and Wireshark open. Writers stream (one record in, bytes out) and hold
only per-interface state.

* ``PcapWriter``: classic pcap, little-endian, nanosecond magic by default, DLT 147; each
  record is the 4-byte capture header + message.
* ``PcapngWriter``: SHB, then one IDB per client VMID (one queue pair = one interface, named
  ``rm-vm<vmid>`` or as ``interfaces`` says, ``if_tsresol`` = 9, i.e. ns), written lazily just
  before that interface's first EPB (pcapng allows an IDB anywhere before its first use).
  EPBs carry the capture header + message, ``epb_flags`` direction (to the RM = outbound 2,
  from the RM = inbound 1, unknown: no flags option), ``opt_comment`` from ``Record.comment``,
  and for a synthetic record a second comment ``ghrm-synthetic[; seq unknown]: <why>``, which
  our reader maps back to ``Record.synthetic`` / ``seq_known``.
* ``write_hexlog``: what the Qualcomm RM driver prints with dynamic debug on (protocol.md §9):
  ``gh_rm_recv:`` dumps of every message from the RM, and for each request to the RM the
  ``gh_rm_call TX msg_id:`` line plus the ``gh_rm_call TX:`` dump of the reassembled request
  payload (no header), timestamped like dmesg. That is all such a log can hold: seq numbers
  of requests and client VMIDs are lost.

A record without time is written with timestamp 0. ``Record.interface`` is not used: the
interface is chosen by ``client_vmid``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import IO, Any

from dissector.errors import UsageError
from dissector.protocol.wire import (
    CAPTURE_HEADER_FORMAT,
    CAPTURE_HEADER_SIZE,
    CAPTURE_HEADER_VERSION,
    CONTINUATION,
    REPLY,
    REQUEST,
    RPC_HEADER_SIZE,
    parse_header,
)

from .pcap import PCAP_MAGIC_NS, PCAP_MAGIC_US
from .pcapng import BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC
from .record import (
    LINKTYPE_GUNYAH_RM,
    UNKNOWN_VMID,
    Direction,
    Record,
)

SNAPLEN = 65535
APPLICATION = "ghrm"
_EPB_FLAGS = {Direction.TO_RM: 2, Direction.FROM_RM: 1}
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")

InterfaceNames = Mapping[int, str] | Callable[[int], str] | None


def default_interface_name(client_vmid: int) -> str:
    """``rm-vm3`` for client VMID 3; ``rm-vm-unknown`` when the VMID is not known."""
    return "rm-vm-unknown" if client_vmid == UNKNOWN_VMID else f"rm-vm{client_vmid}"


def _check(record: Record) -> tuple[int, int]:
    """Validated (time_ns, direction byte) of a record about to be written."""
    t = record.time_ns if record.time_ns is not None else 0
    if t < 0:
        raise UsageError(f"record {record.number}: negative time_ns {t} cannot be written")
    if not 0 <= record.client_vmid <= 0xFFFF:
        raise UsageError(f"record {record.number}: client_vmid {record.client_vmid} is not a u16")
    return t, int(record.direction)


class _Sink:
    """Shared file handling: a path is opened (and closed) here, a file object is borrowed."""

    def __init__(self, file: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(file, str | os.PathLike):
            self._f: IO[bytes] = open(file, "wb")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._f = file
            self._owned = False
        self.count = 0

    def write_all(self, records: Iterable[Record]) -> int:
        """Write every record; return how many."""
        write = self.write  # type: ignore[attr-defined]
        n = 0
        for r in records:
            write(r)
            n += 1
        return n

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        if self._f.closed:
            return
        self._f.flush()
        if self._owned:
            self._f.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PcapWriter(_Sink):
    """Classic pcap, DLT 147, little-endian; nanosecond timestamps unless told otherwise."""

    def __init__(self, file: str | os.PathLike[str] | IO[bytes], *, nanosecond: bool = True) -> None:
        super().__init__(file)
        self.nanosecond = nanosecond
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, LINKTYPE_GUNYAH_RM))
        self._hdr = struct.Struct("<IIII" + CAPTURE_HEADER_FORMAT[1:]).pack  # record header + ours

    def write(self, record: Record) -> None:
        """Append one record (capture header + message)."""
        t, d = _check(record)
        sec, ns = divmod(t, 1_000_000_000)
        if sec > 0xFFFFFFFF:
            raise UsageError(f"record {record.number}: time {t} ns does not fit a pcap timestamp")
        frac = ns if self.nanosecond else ns // 1000
        n = len(record.data) + CAPTURE_HEADER_SIZE
        self._f.write(self._hdr(sec, frac, n, n, CAPTURE_HEADER_VERSION, d, record.client_vmid) + record.data)
        self.count += 1


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + _PAD[len(value) & 3]


class PcapngWriter(_Sink):
    """pcapng with one interface per client VMID (written lazily), ns timestamps, flags, comments."""

    def __init__(
        self,
        file: str | os.PathLike[str] | IO[bytes],
        *,
        interfaces: InterfaceNames = None,
        application: str = APPLICATION,
    ) -> None:
        super().__init__(file)
        if interfaces is None:
            self._name: Callable[[int], str] = default_interface_name
        elif callable(interfaces):
            self._name = interfaces
        else:
            names = dict(interfaces)
            self._name = lambda vmid: names.get(vmid) or default_interface_name(vmid)
        self._ifid: dict[int, int] = {}
        opts = _option(4, application.encode()) + b"\0\0\0\0"
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts
        blen = 12 + len(body)
        self._f.write(struct.pack("<II", BT_SHB, blen) + body + struct.pack("<I", blen))
        self._epb = struct.Struct("<IIIIIII" + CAPTURE_HEADER_FORMAT[1:]).pack  # EPB head + ours
        self._flags = {d: _option(2, struct.pack("<I", v)) for d, v in _EPB_FLAGS.items()}

    def _interface(self, vmid: int) -> int:
        ifid = self._ifid.get(vmid)
        if ifid is not None:
            return ifid
        ifid = len(self._ifid)
        self._ifid[vmid] = ifid
        who = "unknown client VM" if vmid == UNKNOWN_VMID else f"client VM {vmid}"
        opts = (
            _option(2, self._name(vmid).encode())
            + _option(3, f"Gunyah RM queue pair of {who}".encode())
            + _option(9, b"\x09")
            + b"\0\0\0\0"
        )
        body = struct.pack("<HHI", LINKTYPE_GUNYAH_RM, 0, SNAPLEN) + opts
        blen = 12 + len(body)
        self._f.write(struct.pack("<II", BT_IDB, blen) + body + struct.pack("<I", blen))
        return ifid

    def write(self, record: Record) -> None:
        """Append one EPB (and the record's interface block if it is the first on it)."""
        t, d = _check(record)
        ifid = self._interface(record.client_vmid)
        data = record.data
        caplen = len(data) + 4
        opts = self._flags.get(record.direction, b"")
        if record.comment:
            opts += _option(1, record.comment.encode())
        if record.synthetic:
            mark = "ghrm-synthetic" + ("" if record.seq_known else "; seq unknown")
            opts += _option(1, f"{mark}: {record.synthetic}".encode())
        if opts:
            opts += b"\0\0\0\0"
        pad = _PAD[caplen & 3]
        blen = 32 + caplen + len(pad) + len(opts)
        self._f.write(
            self._epb(
                BT_EPB,
                blen,
                ifid,
                t >> 32,
                t & 0xFFFFFFFF,
                caplen,
                caplen,
                CAPTURE_HEADER_VERSION,
                d,
                record.client_vmid,
            )
            + data
            + pad
            + opts
            + struct.pack("<I", blen)
        )
        self.count += 1


def write_capture(
    path_or_file: str | os.PathLike[str] | IO[bytes],
    records: Iterable[Record],
    fmt: str | None = None,
) -> int:
    """Write ``records`` as pcap or pcapng; return how many were written.

    ``fmt`` is ``"pcap"`` or ``"pcapng"``; by default it follows the path's suffix (``.pcap``,
    ``.cap`` -> pcap; ``.pcapng``, ``.ntar`` -> pcapng). A file object without ``fmt`` gets
    pcapng, the format that keeps all of a record's metadata.
    """
    if fmt is None:
        if isinstance(path_or_file, str | os.PathLike):
            suffix = os.path.splitext(os.fspath(path_or_file))[1].lower()
            fmt = {".pcap": "pcap", ".cap": "pcap", ".pcapng": "pcapng", ".ntar": "pcapng"}.get(suffix)
            if fmt is None:
                raise UsageError(
                    f"cannot tell the format from suffix {suffix!r}; use .pcap or .pcapng or pass fmt="
                )
        else:
            fmt = "pcapng"
    writer: PcapWriter | PcapngWriter
    if fmt == "pcap":
        writer = PcapWriter(path_or_file)
    elif fmt == "pcapng":
        writer = PcapngWriter(path_or_file)
    else:
        raise UsageError(f"unknown capture format {fmt!r}; choose 'pcap' or 'pcapng'")
    with writer:
        return writer.write_all(records)


# --------------------------------------------------------------------------- kernel log
def _dmesg_prefix(time_ns: int | None) -> str:
    if time_ns is None:
        return ""
    us = time_ns // 1000
    return f"[{us // 1_000_000:5d}.{us % 1_000_000:06d}] "


def _dump(out: list[str], prefix: str, tag: str, data: bytes) -> None:
    for off in range(0, len(data), 16):
        out.append(f"{prefix}{tag}: {off:08x}: {data[off : off + 16].hex(' ')}\n")


def write_hexlog(file: IO[str], records: Iterable[Record], *, rejected_lines: bool = False) -> int:
    """Print ``records`` as the Qualcomm RM driver's dynamic-debug log would; return records used.

    From the RM: every message as a ``gh_rm_recv:`` dump. To the RM: each request (first
    fragment and its continuations, reassembled per client VMID) as ``gh_rm_call TX msg_id:``
    plus a ``gh_rm_call TX:`` dump of its payload; other messages to the RM (stray
    continuations, replies or notifications sent by a VM) and records of unknown direction
    cannot be expressed and are left out. With ``rejected_lines`` a reply carrying a non-zero
    error also gets the upstream driver's ``RM rejected message`` line (a reader then yields it
    twice: once from the dump, once synthesised).
    """
    used = 0
    pending: dict[int, tuple[Record, int, list[bytes], int]] = {}  # vmid -> (first, frags, parts, n)

    def flush(vmid: int) -> None:
        first, _frags, parts, _n = pending.pop(vmid)
        msg_id = struct.unpack_from("<I", first.data, 4)[0]
        prefix = _dmesg_prefix(first.time_ns)
        out = [f"{prefix}gh_rm_call TX msg_id: {msg_id:x}\n"]
        _dump(out, prefix, "gh_rm_call TX", b"".join(parts))
        file.writelines(out)

    for r in records:
        data = r.data
        if r.direction is Direction.FROM_RM:
            prefix = _dmesg_prefix(r.time_ns)
            out: list[str] = []
            _dump(out, prefix, "gh_rm_recv", data)
            header = parse_header(data)
            if rejected_lines and header is not None and len(data) >= 12 and header.msg_type == REPLY:
                err = struct.unpack_from("<i", data, RPC_HEADER_SIZE)[0]
                if err:
                    out.append(
                        f"{prefix}gunyah_rsc_mgr: RM rejected message {header.msg_id:08x}. Error: {err}\n"
                    )
            file.writelines(out)
            used += 1
        elif r.direction is Direction.TO_RM and (header := parse_header(data)) is not None:
            vmid = r.client_vmid
            if header.msg_type == REQUEST:
                if vmid in pending:
                    flush(vmid)
                pending[vmid] = (r, header.fragments, [data[RPC_HEADER_SIZE:]], 0)
                used += 1
            elif header.msg_type == CONTINUATION and vmid in pending:
                first, want, parts, got = pending[vmid]
                if data[4:8] != first.data[4:8]:  # msg_id
                    continue
                parts.append(data[RPC_HEADER_SIZE:])
                pending[vmid] = (first, want, parts, got + 1)
                used += 1
            else:
                continue
            first, want, parts, got = pending[vmid]
            if got >= want:
                flush(vmid)
    for vmid in list(pending):
        flush(vmid)
    return used
