"""The JSON report's text: ``json.dumps(finite(doc), indent=1)`` byte for byte, tables a column at a time.

Why: with ``indent`` the standard library encodes in pure Python, a few microseconds a value, and
the tables of a 1M-message report hold ~2M values (13 s on the benchmark capture). A table (a list
of records with the same keys) is encoded here one column at a time by the C encoder, its values
separated by a NUL the encoder never writes raw (it escapes one inside a string as ``\\u0000``),
then laid out as ``indent=1`` would. Everything else goes through ``json.dumps`` itself.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii  # the C one, when built (the encoder uses it too)
from typing import Any

_SEP = "\x00"
_SCALARS = (str, int, float, bool, type(None))
_NOT_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinity (in dicts and lists, at any depth) as None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def dumps(doc: Any) -> str:
    """``json.dumps(finite(doc), indent=1)``, with the tables of a dict ``doc`` written fast."""
    if type(doc) is not dict or not doc or not all(type(k) is str for k in doc):
        return _plain(doc, 0)
    items = [f" {json.dumps(k)}: {_table(v, 1) if _is_table(v) else _plain(v, 1)}" for k, v in doc.items()]
    return "{\n" + ",\n".join(items) + "\n}"


def _plain(value: Any, level: int) -> str:
    """``value`` as ``indent=1`` writes it under a key ``level`` spaces in (the standard way)."""
    return json.dumps(finite(value), indent=1).replace("\n", "\n" + " " * level)


def _is_table(value: Any) -> bool:
    if type(value) is not list or not value or type(value[0]) is not dict or not value[0]:
        return False
    keys = list(value[0])
    return all(type(k) is str for k in keys) and all(type(r) is dict and list(r) == keys for r in value)


def _table(records: list[dict[str, Any]], level: int) -> str:
    """A list of records with the same keys, under a key ``level`` spaces in."""
    keys = list(records[0])
    inner = " " * (level + 2)
    heads = [f"{inner}{json.dumps(k)}: " for k in keys]
    columns = [_column([r[k] for r in records], level + 2) for k in keys]
    start, end = " " * (level + 1) + "{\n", "\n" + " " * (level + 1) + "}"
    rows = [
        start + ",\n".join([h + c for h, c in zip(heads, cells, strict=True)]) + end
        for cells in zip(*columns, strict=True)
    ]
    return "[\n" + ",\n".join(rows) + "\n" + " " * level + "]"


def _scalars(values: list[Any]) -> list[str]:
    """Each scalar's JSON text, from one C-encoder call (NaN and infinities as null)."""
    cells = json.dumps(values, separators=(_SEP, ":"))[1:-1].split(_SEP)
    if any(type(v) is float for v in values):
        cells = ["null" if c in _NOT_FINITE else c for c in cells]
    return cells


def _scalar(v: Any) -> str:
    """One scalar as the encoder writes it (``finite``'s None for NaN and infinities)."""
    t = type(v)
    if t is str:
        return encode_basestring_ascii(v)
    if v is None or v is True or v is False:
        return "null" if v is None else ("true" if v else "false")
    if t is float:
        return float.__repr__(v) if math.isfinite(v) else "null"
    return int.__repr__(v)


def _nested(v: Any, level: int) -> str:
    """A list or dict of plain JSON values under a key ``level`` spaces in, as ``indent=1`` writes
    it (what the standard library's Python encoder does, without its generators); anything else
    goes to ``json.dumps``."""
    t = type(v)
    if t in _SCALARS:
        return _scalar(v)
    if t is list:
        if not v:
            return "[]"
        pad = "\n" + " " * (level + 1)
        return "[" + pad + ("," + pad).join([_nested(x, level + 1) for x in v]) + "\n" + " " * level + "]"
    if t is dict and all(type(k) is str for k in v):
        if not v:
            return "{}"
        pad = "\n" + " " * (level + 1)
        items = [encode_basestring_ascii(k) + ": " + _nested(x, level + 1) for k, x in v.items()]
        return "{" + pad + ("," + pad).join(items) + "\n" + " " * level + "}"
    return _plain(v, level)


def _column(values: list[Any], level: int) -> list[str]:
    """The cells of one table column, its values under keys ``level`` spaces in."""
    if all(type(v) in _SCALARS for v in values):
        return _scalars(values)
    return [_nested(v, level) for v in values]
