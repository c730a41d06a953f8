"""One value at a time, as a kernel engineer reads it: ids in hex, times with their unit.

Why a module of its own: a message's HTML view (``dissector.message_view``, used by
``DecodedMessage._repr_html_``) and the table views (``dissector.display``) both format values;
this module sits below both, so the message view does not import the table registry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

NA = "\u2013"  # en dash
LIST_OPEN = 8  # list fields with more entries show them closed, one summary line each
LIST_SHOWN = 32  # and at most this many entries (a 512-entry SGL would fill the page)

_CSS = (
    "font-family: system-ui, sans-serif; font-size: 13px; border: 1px solid #d0d7de; "
    "border-radius: 6px; padding: 10px 14px; max-width: 1100px"
)


# --- one value at a time ----------------------------------------------------------------------
def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def hex_id(value: Any) -> str:
    """``0x80``; a tuple as ``0x80, 0x81``; NA as a dash."""
    if isinstance(value, tuple | list):
        return ", ".join(hex_id(v) for v in value) or NA
    if _missing(value):
        return NA
    return f"{int(value):#x}"


def seconds(value: Any) -> str:
    """An instant in seconds since the capture start: ``1.234567 s``."""
    return NA if _missing(value) else f"{value:.6f} s"


def duration(value: Any) -> str:
    """A duration in seconds, in the unit that reads best: ``85.4 µs``, ``7.429 ms``, ``1.992 s``."""
    if _missing(value):
        return NA
    if abs(value) < 1e-3:
        return f"{value * 1e6:.1f} µs"
    if abs(value) < 1:
        return f"{value * 1e3:.3f} ms"
    return f"{value:.3f} s"


def milliseconds(value: Any) -> str:
    return NA if _missing(value) else f"{value:.3f} ms"


def timestamp(value: Any) -> str:
    """An absolute time to the microsecond: ``2026-01-01 00:00:00.002336 UTC``."""
    if _missing(value):
        return NA
    ts = pd.Timestamp(value)
    zone = " UTC" if ts.tzinfo is not None else ""
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f") + zone


def ranges(numbers: Iterable[int]) -> str:
    """``4-39, 41``: runs of consecutive frame numbers."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def listing(value: Any) -> str:
    """A tuple of names or numbers, comma-separated (at most 12, then a count)."""
    if isinstance(value, tuple | list):
        shown = ", ".join(str(v) for v in value[:12])
        return (shown + (f" (+{len(value) - 12})" if len(value) > 12 else "")) if value else NA
    return NA if _missing(value) else str(value)


def size(value: Any) -> str:
    """Bytes as kernel engineers read them: ``0x20000000 (512 MiB)``."""
    if _missing(value):
        return NA
    v = int(value)
    human = f"{v / 2**20:.0f} MiB" if v >= 2**20 else f"{v / 2**10:.0f} KiB" if v >= 2**10 else f"{v} B"
    return f"{v:#x} ({human})"


def percent(value: Any) -> str:
    return NA if _missing(value) else f"{value:+.1f} %"


def p_value(value: Any) -> str:
    return NA if _missing(value) else f"{value:.3g}"
