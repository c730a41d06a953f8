"""Which files make a fleet, and which device each came from.

Why here, on the client: globbing and naming devices must happen before any task is built,
so that every partition knows its ``capture`` and ``device`` and the graph is fixed. Reading a
pcapng's first blocks costs a few hundred bytes per file.

Device of a capture, first that applies:

1. ``device_from``: a regular expression searched in the path; its ``device`` group, else its
   first group, else the whole match (``--device-from 'nightly/([^/]+)/'``);
2. pcapng metadata: the section header's ``shb_hardware`` option, else the first interface's
   ``if_hardware`` option;
3. the name of the folder holding the file.
"""

from __future__ import annotations

import glob
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dissector.errors import GhrmError

# Suffixes taken when a folder is given (a glob or a file name is taken as it is).
CAPTURE_SUFFIXES = (".pcapng", ".pcap", ".cap", ".log")
_HEAD_BYTES = 1 << 16  # the SHB and IDBs sit at the start; a packet block ends the search
_SHB, _IDB = 0x0A0D0D0A, 0x00000001
_SHB_HARDWARE, _IF_HARDWARE = 2, 15
_BYTE_ORDER_MAGIC = 0x1A2B3C4D


class FleetError(GhrmError):
    """A fleet that cannot be built or run: no files, a bad pattern, an unreachable scheduler."""


@dataclass(frozen=True)
class CaptureSource:
    """One capture of the fleet: its path, its name in the ``capture`` column, its device."""

    path: str
    capture: str  # basename, or the path when two captures of the fleet share a basename
    device: str
    device_source: str  # "pattern", "pcapng" or "folder"


def expand(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files named by paths, globs (``**`` recurses) and folders (their capture files, recursively),
    in the order given, each once."""
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise FleetError("no capture given: pass paths, folders or globs")
    found: list[str] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            hits = sorted(
                str(p) for p in Path(text).rglob("*") if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)
            )
            if not hits:
                raise FleetError(f"{text}: no capture files ({', '.join(CAPTURE_SUFFIXES)}) in this folder")
        elif glob.has_magic(text):
            hits = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not hits:
                raise FleetError(f"{text}: no file matches this pattern")
        elif os.path.isfile(text):
            hits = [text]
        else:
            raise FleetError(f"{text}: no such file or folder")
        found.extend(hits)
    return list(dict.fromkeys(found))


def compile_device_pattern(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FleetError(f"--device-from {pattern!r} is not a regular expression: {exc}") from None


def device_from_pattern(path: str, pattern: re.Pattern[str]) -> str | None:
    m = pattern.search(path)
    if m is None:
        return None
    if "device" in pattern.groupindex:
        return m.group("device")
    return m.group(1) if pattern.groups else m.group(0)


def device_from_pcapng(path: str) -> str | None:
    """``shb_hardware`` of the first section, else ``if_hardware`` of its first interface."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return None
    if len(head) < 12 or struct.unpack_from("<I", head)[0] != _SHB:
        return None
    magic = struct.unpack_from("<I", head, 8)[0]
    endian = "<" if magic == _BYTE_ORDER_MAGIC else ">" if magic == 0x4D3C2B1A else None
    if endian is None:
        return None
    pos, interface_hw = 0, None
    while pos + 12 <= len(head):
        btype, blen = struct.unpack_from(endian + "II", head, pos)
        if blen < 12 or blen % 4 or pos + blen > len(head):
            break
        if btype == _SHB and pos == 0:
            hw = _option(head, pos + 24, pos + blen - 4, endian, _SHB_HARDWARE)
            if hw:
                return hw
        elif btype == _IDB:
            if interface_hw is None:
                interface_hw = _option(head, pos + 16, pos + blen - 4, endian, _IF_HARDWARE)
        else:
            break  # interfaces come before the packets that use them
        pos += blen
    return interface_hw


def _option(buf: bytes, off: int, end: int, endian: str, wanted: int) -> str | None:
    while off + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, off)
        if code == 0:
            return None
        value = buf[off + 4 : off + 4 + length]
        if code == wanted:
            text = value.decode("utf-8", "replace").strip("\0 ")
            return text or None
        off += 4 + length + (-length % 4)
    return None


def name_devices(paths: list[str], device_from: str | re.Pattern[str] | None = None) -> list[CaptureSource]:
    """Each path with its device (see the module docstring for the order)."""
    from dissector.analysis.timebase import capture_labels

    pattern = compile_device_pattern(device_from)
    labels = capture_labels(paths)
    out = []
    for path in paths:
        device = device_from_pattern(path, pattern) if pattern is not None else None
        if device:
            out.append(CaptureSource(path, labels[path], device, "pattern"))
            continue
        device = device_from_pcapng(path)
        if device:
            out.append(CaptureSource(path, labels[path], device, "pcapng"))
            continue
        folder = Path(os.path.abspath(path)).parent.name or "."
        out.append(CaptureSource(path, labels[path], folder, "folder"))
    return out
