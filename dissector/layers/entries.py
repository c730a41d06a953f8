"""A list of fixed-size entries that makes a Scapy packet of an entry only when it is looked at.

Why: a Scapy packet costs about a kilobyte, so a reply listing a hundred thousand VMIDs or SGL
entries would cost a hundred megabytes as packets, though nobody looks at most of them. The
entries of a fixed-size list of integers are kept here as the one bytes object they came in;
``entry[i]`` makes (and keeps) the packet of entry ``i``; iterating makes each packet in turn
without keeping it; ``as_dicts()`` reads all of them with one ``struct`` pass for the JSON view.

It is a ``list`` so Scapy treats it as a packet list (``show()``, building, ``len``). Until a
method that changes it is called it holds no items of its own; such a method first turns it
into an ordinary list of packets, so code that edits a dissected packet sees a plain list.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, SupportsIndex

from dissector.protocol.layout import Int

_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


class EntryList(list):
    """``n`` entries of ``size`` bytes each, of the Scapy class ``cls``, held as ``data``."""

    __slots__ = ("_cache", "_cls", "_data", "_n", "_size")

    def __init__(self, cls: Any, data: bytes, size: int, n: int) -> None:
        super().__init__()
        self._cls = cls
        self._data: bytes | None = data
        self._size = size
        self._n = n
        self._cache: dict[int, Any] = {}

    # --- lazy reading ------------------------------------------------------------------
    def _new(self, i: int) -> Any:
        assert self._data is not None
        return self._cls(self._data[i * self._size : (i + 1) * self._size])

    def _entry(self, i: int) -> Any:
        found = self._cache.get(i)
        if found is None:
            found = self._cache[i] = self._new(i)
        return found

    def _index(self, i: SupportsIndex) -> int:
        k = i.__index__()
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError("list index out of range")
        return k

    def __len__(self) -> int:
        return self._n if self._data is not None else list.__len__(self)

    def __iter__(self) -> Iterator[Any]:
        if self._data is None:
            yield from list.__iter__(self)
            return
        for i in range(self._n):
            found = self._cache.get(i)
            yield found if found is not None else self._new(i)

    def __reversed__(self) -> Iterator[Any]:
        if self._data is None:
            return list.__reversed__(self)
        return (self[i] for i in range(self._n - 1, -1, -1))

    def __getitem__(self, i: Any) -> Any:
        if self._data is None:
            return list.__getitem__(self, i)
        if isinstance(i, slice):
            return [self._entry(k) for k in range(*i.indices(self._n))]
        return self._entry(self._index(i))

    def __contains__(self, item: object) -> bool:
        return any(item == x for x in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    def __repr__(self) -> str:
        return repr(list(self))

    def __add__(self, other: Any) -> list[Any]:
        return list(self) + list(other)

    def __radd__(self, other: Any) -> list[Any]:
        return list(other) + list(self)

    def __mul__(self, k: SupportsIndex) -> list[Any]:
        return list(self) * k

    __rmul__ = __mul__

    def index(self, item: Any, *args: Any) -> int:
        return list(self).index(item, *args)

    def count(self, item: Any) -> int:
        return sum(1 for x in self if x == item)

    def copy(self) -> list[Any]:
        return list(self)

    def __copy__(self) -> list[Any]:
        return list(self)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (list, (list(self),))

    # --- what the decoder and the JSON view need ------------------------------------------
    def modified(self) -> bool:
        """True once an entry was edited or the list changed (the packet must then be rebuilt)."""
        if self._data is None:
            return True
        return any(p.raw_packet_cache is None for p in self._cache.values())

    def as_dicts(self) -> list[dict[str, int]] | None:
        """Every entry as ``dissector.layers.fields_of`` shows it (reserved fields only when
        non-zero), read with one ``struct.iter_unpack`` instead of a packet per entry; None when
        that shortcut does not apply (entries already made into packets, odd-sized integers)
        and the caller must read the packets themselves."""
        if self._data is None or self._cache:
            return None
        layout = self._cls.layout
        specs: list[Int] = list(layout.fields)
        if any(f.size not in _FMT for f in specs):
            return None
        fmt = struct.Struct("<" + "".join(_FMT[f.size] for f in specs))
        names = [f.name for f in specs]
        reserved = [f.reserved or f.name.startswith("_") for f in specs]
        out: list[dict[str, int]] = []
        append = out.append
        if not any(reserved):
            for row in fmt.iter_unpack(self._data):
                append(dict(zip(names, row, strict=True)))
            return out
        for row in fmt.iter_unpack(self._data):
            append({n: v for n, v, r in zip(names, row, reserved, strict=True) if v or not r})
        return out

    # --- changing it: become an ordinary list of packets first --------------------------------
    def _own(self) -> None:
        if self._data is not None:
            items = [self._entry(i) for i in range(self._n)]
            list.extend(self, items)
            self._data = None
            self._cache = {}

    @staticmethod
    def _changing(name: str) -> Any:
        base = getattr(list, name)

        def method(self: EntryList, *args: Any, **kwargs: Any) -> Any:
            self._own()
            return base(self, *args, **kwargs)

        method.__name__ = name
        return method

    __setitem__ = _changing("__setitem__")
    __delitem__ = _changing("__delitem__")
    __iadd__ = _changing("__iadd__")
    __imul__ = _changing("__imul__")
    append = _changing("append")
    extend = _changing("extend")
    insert = _changing("insert")
    pop = _changing("pop")
    remove = _changing("remove")
    sort = _changing("sort")
    reverse = _changing("reverse")
    clear = _changing("clear")
    del _changing
