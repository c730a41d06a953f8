"""What ``ghrm decode`` attaches to each jsonl record: the generated fields of ``context.py``.

For a file it computes them for the whole capture first (two passes like ``tshark -2``), from the
capture's message columns with numpy alone (``context.exchange_fields``); for stdin or
``--follow`` it keeps a ``StreamContext``. It lives apart from ``context.py`` because it reads the
capture through ``decoders.lines``, which reads ``context.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dissector.errors import GhrmError

from .context import GENERATED, Exchange, StreamContext, errno_names, exchange_fields


def exchange_context(path: str, dialect: str, follow: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """What ``ghrm decode`` attaches to each jsonl record of ``path``: for a file, two passes like
    ``tshark -2`` (the whole capture's generated fields first); for stdin or ``--follow``, a
    ``StreamContext`` (only what came before)."""
    known = file_context(path, dialect, follow)
    if known is not None:
        empty = dict.fromkeys(GENERATED)
        return lambda record: known.get(record["frame"], empty)
    return StreamContext().fields


def file_context(path: str, dialect: str, follow: bool) -> dict[int, dict[str, Any]] | None:
    """Frame -> the generated fields of its message, for a capture file read whole (None: stdin,
    ``--follow``, or a file that cannot be read whole: then only a ``StreamContext`` can tell)."""
    if path == "-" or follow or not os.path.isfile(path):
        return None
    from dissector.decoders.lines import read_capture

    try:
        capture = read_capture(path, dialect)
        if capture is None:
            return None
        return _by_frame(capture.cols.frame, exchange_fields(capture.cols, dialect))
    except (GhrmError, OSError, ValueError):
        return None


def _by_frame(frame: np.ndarray, ex: Exchange) -> dict[int, dict[str, Any]]:
    """Frame -> generated fields as JSON values (ints, float, str or None)."""
    codes, names = errno_names(ex.err)
    columns = [
        [None if v < 0 else v for v in ex.vm.tolist()],
        [None if v < 0 else v for v in ex.request_frame.tolist()],
        [None if v < 0 else v for v in ex.reply_frame.tolist()],
        [None if v != v else v for v in ex.latency.tolist()],
        [names[c] for c in codes.tolist()],
    ]
    rows = zip(frame.tolist(), *columns, strict=True)
    return {f: dict(zip(GENERATED, values, strict=True)) for f, *values in rows}
