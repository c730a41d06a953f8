"""Hypothesis strategies derived from the layout declarations, so every payload class is covered.

A strategy for a ``Struct`` draws keyword arguments for its generated Scapy class: integers in
range, lists of entries, bytes of fitting length, optional groups present or absent. Counts and
lengths are left unset so the layer computes them, which is what a user building by hand does.
"""

from __future__ import annotations

import struct as _struct
from typing import Any

from hypothesis import strategies as st

from dissector.layers.build import entry_class
from dissector.protocol.layout import Array, BySize, Bytes, Count, Int, Length, Optional, Struct, When


def _int(spec: Int) -> st.SearchStrategy[int]:
    return st.integers(0, 2 ** (8 * spec.size) - 1)


def _leaf(spec: Any, max_list: int, min_list: int = 0) -> st.SearchStrategy[Any] | None:
    if isinstance(spec, Int):
        return _int(spec)
    if isinstance(spec, Count | Length):
        return None  # computed when building
    if isinstance(spec, Array):
        nested = max_list if not min_list else 3  # long top-level lists, short nested ones
        return st.lists(entry_strategy(spec.entry, nested), min_size=min_list, max_size=max_list)
    if isinstance(spec, Bytes):
        if spec.struct is not None:
            return entry_strategy(spec.struct, max_list)
        alphabet = st.binary if not spec.text else None
        if isinstance(spec.length, int):
            size = spec.length
            return st.binary(min_size=size, max_size=size)
        if alphabet is None:
            return st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.encode)
        return st.binary(max_size=40)
    raise TypeError(spec)


@st.composite
def _fields(
    draw: st.DrawFn, items: tuple[Any, ...], max_list: int, chosen: dict[str, Any], min_list: int = 0
) -> dict[str, Any]:
    for item in items:
        if isinstance(item, Optional):
            if draw(st.booleans()):
                group: dict[str, Any] = {}
                draw(_fields(item.fields, max_list, group, min_list))
                # a present group needs at least one explicit value to be built
                if not any(v is not None for v in group.values()):
                    first = next(iter(item.fields))
                    group[first.name] = [] if isinstance(first, Array) else 0
                chosen.update(group)
        elif isinstance(item, When):
            if chosen.get(item.field) in item.values:
                draw(_fields(item.fields, max_list, chosen, min_list))
        elif isinstance(item, BySize):  # building writes the first case
            draw(_fields(item.cases[0].fields, max_list, chosen, min_list))
        else:
            strategy = _leaf(item, max_list, min_list)
            if strategy is not None:
                chosen[item.name] = draw(strategy)
    return chosen


@st.composite
def struct_kwargs(draw: st.DrawFn, layout: Struct, max_list: int = 4, min_list: int = 0) -> dict[str, Any]:
    """Keyword arguments that build a valid instance of ``layout``'s class.

    Lists get at most ``max_list`` entries; with ``min_list`` top-level lists get at least that
    many (nested ones then at most 3), so a test can ask for messages long enough to need
    fragmentation.
    """
    return draw(_fields(layout.fields, max_list, {}, min_list))


def entry_strategy(layout: Struct, max_list: int = 3) -> st.SearchStrategy[Any]:
    cls = entry_class(layout)
    return struct_kwargs(layout, max_list).map(lambda kw: cls(**kw))


def header(msg_type: int, seq: int, msg_id: int, fragments: int = 0) -> bytes:
    """The 8-byte RPC header, packed by hand (not by the layer under test)."""
    return _struct.pack("<BBHI", 0x21, (fragments << 2) | msg_type, seq, msg_id)
