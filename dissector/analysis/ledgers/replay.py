"""What the parcel and IRQ ledgers share: replaying a capture's story into rows keyed by handle.

Why one skeleton: both ledgers keep their rows in creation order, look handles up in a
``HandleIndex`` (a handle is reused after its reclaim), remember creates whose reply was lost
(the first later call that uses an unknown handle successfully is taken to name the oldest
fitting one: ``inferred``), and number the instances of a handle at the end. Only what a call
or a notification does to a row differs; that is the subclass's ``feed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from .events import Event, Story, stories
from .handles import HandleIndex, number_instances


class LedgerRow(Protocol):
    """A row while the replay builds it (``Parcel``, ``LentIrq``)."""

    handle: int | None
    source: str
    start_frame: int
    instance: int

    @property
    def end_frame(self) -> int | None: ...


R = TypeVar("R", bound=LedgerRow)


class Replay(Generic[R]):
    """One capture's story replayed into rows (subclasses say what each event does)."""

    def __init__(self, capture: str) -> None:
        self.capture = capture
        self.rows: list[R] = []
        self.index: HandleIndex[R] = HandleIndex()
        self._no_reply: list[R] = []  # creates without reply, oldest first

    def feed(self, event: Event) -> None:
        raise NotImplementedError

    def created(self, row: R) -> None:
        """A row made by a create call: indexed by its handle, or kept aside when the reply (and
        so the handle) is missing."""
        self.rows.append(row)
        if row.handle is None:
            self._no_reply.append(row)
        else:
            self.index.add(row.handle, row)

    def adopt(self, handle: int, frame: int, fits: Callable[[R], bool]) -> R | None:
        """The oldest create without reply before ``frame`` that ``fits``, now known to have
        returned ``handle`` (``inferred``); None when there is none."""
        for i, row in enumerate(self._no_reply):
            if row.start_frame > frame:
                break
            if fits(row):
                del self._no_reply[i]
                row.handle, row.source = handle, "inferred"
                self.index.add(handle, row)
                return row
        return None

    def unseen(self, row: R) -> R:
        """A row for a handle used successfully but never seen created."""
        assert row.handle is not None
        self.rows.append(row)
        self.index.add(row.handle, row)
        return row

    def finish(self) -> list[R]:
        """The rows in the order they first appear, with instance numbers per handle."""
        return number_instances(self.rows)


def replay_story(story: Story, replay: Callable[[str], Replay[R]]) -> list[R]:
    """Every row of one capture."""
    r = replay(story.capture)
    for event in story.events:
        r.feed(event)
    return r.finish()


def ledger_rows(
    messages: Iterable[Mapping[str, Any]], replay: Callable[[str], Replay[R]]
) -> tuple[list[R], list[str]]:
    """Every row of every capture in ``messages`` (jsonl-shaped), and the captures in order."""
    found = stories(messages)
    return [row for s in found for row in replay_story(s, replay)], [s.capture for s in found]
