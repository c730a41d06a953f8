"""What became of a call: the ``status`` of a transaction, declared once.

Why one place: pairing (``transactions``), the SRT (``srt``), the fleet aggregates and the
report all count "answered" and "unanswered" calls; they must agree on which statuses those
are. The values are the category names of ``transactions.status`` (in this order), and the
integer codes pairing works with are their positions.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Status of a transaction (``transactions`` module docstring says when each applies)."""

    OK = "ok"  # answered, error code 0
    ERROR = "error"  # answered with an RM error
    MALFORMED = "malformed"  # answered, but the reply's error code was lost (cut record, lost fragment)
    UNANSWERED = "unanswered"  # no reply in the capture
    DUPLICATE_REPLY = "duplicate_reply"  # a second reply to an answered request
    ORPHAN_REPLY = "orphan_reply"  # a reply to no request in the capture
    RETRANSMITTED = "retransmitted"  # a request whose key was reused before any reply came

    @property
    def code(self) -> int:
        """The integer code (category code of ``transactions.status``)."""
        return STATUSES.index(self.value)


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)  # category order of ``status``
ANSWERED: tuple[Status, ...] = (Status.OK, Status.ERROR, Status.MALFORMED)  # a reply came
NOT_ANSWERED: tuple[Status, ...] = (Status.UNANSWERED, Status.RETRANSMITTED)  # a request that got none
CALLS: tuple[Status, ...] = (*ANSWERED, *NOT_ANSWERED)  # every request: what the SRT counts as calls


def codes(statuses: tuple[Status, ...]) -> tuple[int, ...]:
    """The integer codes of ``statuses`` (for numpy over ``status.cat.codes``)."""
    return tuple(s.code for s in statuses)
