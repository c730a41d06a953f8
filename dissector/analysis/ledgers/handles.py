"""Which parcel or IRQ a handle meant at a given frame: the lookup both ledgers and checks share.

Why one lookup: a handle is reused after its reclaim, so "handle 5" names different parcels
at different frames, and names nothing between a reclaim and the next create. The ledgers use
this while replaying; the checks use it again on the finished tables, and both must agree.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


class HasLifetime(Protocol):
    """A ledger row: where it starts and (if so) the frame of the reclaim that ended it."""

    @property
    def start_frame(self) -> int: ...

    @property
    def end_frame(self) -> int | None: ...


R = TypeVar("R", bound=HasLifetime)

LIVE, STALE, UNKNOWN = "live", "stale", "unknown"


@dataclass(frozen=True, slots=True)
class Binding(Generic[R]):
    """What a handle meant at a frame: ``live`` row, ``stale`` (the row that ended), or ``unknown``."""

    status: str
    row: R | None

    @property
    def bound(self) -> R:
        """The row of a ``live`` or ``stale`` binding, which always has one."""
        assert self.row is not None, f"a {self.status} binding has no row"
        return self.row


class HandleIndex(Generic[R]):
    """Rows per handle, ordered by their start frame."""

    def __init__(self, rows: Iterable[tuple[int, R]] = ()) -> None:
        self._rows: dict[int, list[R]] = {}
        self._starts: dict[int, list[int]] = {}
        for handle, row in rows:
            self.add(handle, row)

    def add(self, handle: int, row: R) -> None:
        starts = self._starts.setdefault(handle, [])
        at = bisect_right(starts, row.start_frame)
        starts.insert(at, row.start_frame)
        self._rows.setdefault(handle, []).insert(at, row)

    def at(self, handle: int, frame: int) -> Binding[R]:
        """The row ``handle`` named at ``frame``: the latest started at or before it."""
        starts = self._starts.get(handle)
        if not starts:
            return Binding(UNKNOWN, None)
        i = bisect_right(starts, frame) - 1
        if i < 0:
            return Binding(UNKNOWN, None)
        row = self._rows[handle][i]
        end = row.end_frame
        if end is not None and end < frame:
            return Binding(STALE, row)
        return Binding(LIVE, row)

    def rows(self, handle: int) -> list[R]:
        return list(self._rows.get(handle, ()))


def number_instances(rows: list[Any]) -> list[Any]:
    """Set ``instance`` per handle (1, 2, ... in start-frame order: a handle created again after
    its reclaim is a new instance) and return the rows in order of first appearance."""
    counts: dict[int, int] = {}
    for row in sorted(rows, key=lambda r: r.start_frame):
        if row.handle is None:
            row.instance = 1
        else:
            counts[row.handle] = counts.get(row.handle, 0) + 1
            row.instance = counts[row.handle]
    return sorted(rows, key=lambda r: r.first_frame)
