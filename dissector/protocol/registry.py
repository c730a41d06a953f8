"""Lookups over the protocol tables with a dialect applied.

Everything that turns a number into a name (layers, JSON export, filters, the CLI) goes through
here, so a dialect changes every consumer at once. Indexes are built once per dialect and cached.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from types import MappingProxyType

from .dialects import DEFAULT_DIALECT, DIALECTS, Dialect, get_dialect
from .enums import ALL_ENUMS
from .layout import ROLES, Layout, Role, Struct
from .messages import MESSAGES
from .types import EnumDef, MessageDef

DialectLike = str | Dialect
_Index = tuple[tuple[MessageDef, ...], dict[int, MessageDef], dict[str, MessageDef]]

# "0x56000004", "UNKNOWN_0x56000099" or the bare 8 digits kernel logs print ("56000004")
_HEX_ID = re.compile(r"^(?:(?:UNKNOWN_)?0x([0-9a-f]{1,8})|([0-9a-f]{8}))$", re.IGNORECASE)


def _build(dialect: Dialect) -> _Index:
    msgs = tuple(
        replace(m, name=dialect.renames[m.msg_id][0], aliases=dialect.renames[m.msg_id][1])
        if m.msg_id in dialect.renames
        else m
        for m in MESSAGES
    )
    renamed = [m for m in msgs if m.msg_id in dialect.renames]
    default = [m for m in msgs if m.msg_id not in dialect.renames]
    by_name: dict[str, MessageDef] = {}
    # priority on a clash: renamed name > default name > renamed alias > default alias
    for group, use_aliases in ((renamed, False), (default, False), (renamed, True), (default, True)):
        for m in group:
            for key in m.aliases if use_aliases else (m.name,):
                by_name.setdefault(key.upper(), m)
    return msgs, {m.msg_id: m for m in msgs}, by_name


@cache
def _build_named(name: str) -> _Index:
    return _build(DIALECTS[name])


def _index(dialect: DialectLike) -> _Index:
    """Messages with the dialect's renames applied, by id and by upper-case name/alias."""
    d = get_dialect(dialect)
    return _build_named(d.name) if DIALECTS.get(d.name) is d else _build(d)


def messages(dialect: DialectLike = DEFAULT_DIALECT) -> tuple[MessageDef, ...]:
    """All message definitions as the dialect names them, in table order."""
    return _index(dialect)[0]


def message(msg_id: int, dialect: DialectLike = DEFAULT_DIALECT) -> MessageDef | None:
    """Definition of ``msg_id``, or None for an id no source defines."""
    return _index(dialect)[1].get(msg_id)


def message_name(msg_id: int, dialect: DialectLike = DEFAULT_DIALECT) -> str:
    """Printable name; unknown ids read ``UNKNOWN_0x5600ABCD`` so they still sort and filter."""
    m = message(msg_id, dialect)
    return m.name if m is not None else f"UNKNOWN_{msg_id:#010x}"


def _closest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word.upper(), candidates, n=5, cutoff=0.5)
    return f"; closest: {', '.join(close)}" if close else ""


def resolve_message(key: int | str, dialect: DialectLike = DEFAULT_DIALECT) -> MessageDef:
    """Message for an id (int, ``0x56000004``, ``56000004``) or any name/alias (case-insensitive).

    ``KeyError`` names the closest known names so a typo in a filter is easy to fix.
    """
    _, by_id, by_name = _index(dialect)
    if isinstance(key, int):
        if key in by_id:
            return by_id[key]
        raise KeyError(f"no message with id {key:#010x}")
    text = key.strip()
    found = by_name.get(text.upper())
    if found is not None:
        return found
    match = _HEX_ID.match(text)
    if match:
        msg_id = int(match.group(1) or match.group(2), 16)
        if msg_id in by_id:
            return by_id[msg_id]
        raise KeyError(f"no message with id {msg_id:#010x}")
    raise KeyError(f"no message named {key!r}{_closest(text, list(by_name))}")


def enum(name: str, dialect: DialectLike = DEFAULT_DIALECT) -> EnumDef:
    """The EnumDef called ``name`` (e.g. ``vm_status``) with the dialect's override applied."""
    d = get_dialect(dialect)
    wanted = name.strip().lower()
    if wanted in d.enum_overrides:
        return d.enum_overrides[wanted]
    if wanted in ALL_ENUMS:
        return ALL_ENUMS[wanted]
    raise KeyError(f"no enum named {name!r}{_closest(wanted.upper(), [n.upper() for n in ALL_ENUMS])}")


def value_names(name: str, dialect: DialectLike = DEFAULT_DIALECT) -> EnumDef | None:
    """The names a field's values carry in ``dialect``, or None when the dialect leaves the
    field opaque (shown as a number: ``app_status`` outside ``qcom``)."""
    d = get_dialect(dialect)
    if name.strip().lower() in d.opaque:
        return None
    return enum(name, d)


@cache
def layouts_by_id() -> Mapping[int, Layout]:
    """Every declared ``Layout`` keyed by message id (names resolved in the default dialect).

    Built once, here only, and read-only: the codec, the Scapy dispatch tables, the Lua
    generator and the reference doc all read this one mapping.
    """
    from .layouts import LAYOUTS

    return MappingProxyType({resolve_message(name).msg_id: layout for name, layout in LAYOUTS.items()})


def layout(msg_id: int, role: Role, dialect: DialectLike = DEFAULT_DIALECT) -> Struct | None:
    """The payload layout of one message in one role, as ``dialect`` reads it (``Layout.role``:
    ``reply`` is the data after the error code, ``EMPTY`` for a standard reply; None when no
    layout is known, bytes kept raw)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    override = get_dialect(dialect).layouts.get((msg_id, role))
    if override is not None:
        return override
    found = layouts_by_id().get(msg_id)
    return None if found is None else found.role(role)


def error_name(code: int, dialect: DialectLike = DEFAULT_DIALECT) -> str:
    """Short RM error name (``NORESOURCE``); unknown codes read ``UNKNOWN_0x...``."""
    return enum("rm_error", dialect).name_of(code)


def resolve_error(key: int | str, dialect: DialectLike = DEFAULT_DIALECT) -> int:
    """Error code for a short, RM or Linux name, a decimal or a ``0x`` number."""
    if isinstance(key, int):
        return key
    text = key.strip()
    if re.fullmatch(r"0x[0-9a-f]{1,8}", text, re.IGNORECASE):
        return int(text, 16)
    if text.isdigit():
        return int(text)
    return enum("rm_error", dialect).value_of(text)
