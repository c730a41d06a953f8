"""``Status``: one declaration of the transaction statuses, and the counts built on it agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dissector
from dissector.analysis.context import StreamContext
from dissector.analysis.schema import TABLES
from dissector.analysis.status import ANSWERED, CALLS, NOT_ANSWERED, STATUSES, Status, codes
from dissector.fleet import aggregates
from dissector.report import compare

TRACES = Path(__file__).resolve().parents[2] / "traces"


def test_status_values_are_the_categories_of_the_transactions_table_in_order():
    assert TABLES["transactions"].column("status").categories == STATUSES
    assert [s.code for s in Status] == list(range(len(STATUSES)))
    assert Status("duplicate_reply") is Status.DUPLICATE_REPLY and Status.OK == "ok"
    assert set(ANSWERED) | set(NOT_ANSWERED) == set(CALLS)
    assert not set(ANSWERED) & set(NOT_ANSWERED)
    assert codes(ANSWERED) == (0, 1, 2)


def test_every_user_of_answered_counts_the_same_statuses():
    assert aggregates.ANSWERED == compare.ANSWERED == ("ok", "error", "malformed")
    assert aggregates.UNANSWERED == compare.NOT_ANSWERED == ("unanswered", "retransmitted")


def test_srt_counts_calls_and_unanswered_by_the_status_sets():
    trace = dissector.open(TRACES / "faults_mix.pcapng")
    tx, srt = trace.transactions, trace.srt
    status = tx["status"].astype(str)
    assert srt["calls"].sum() == status.isin(CALLS).sum()
    assert srt["unanswered"].sum() == status.isin(NOT_ANSWERED).sum() > 0
    assert srt["errors"].sum() == (status == Status.ERROR).sum() > 0
    timed = tx[status.isin(ANSWERED) & tx["latency"].notna()]
    assert np.isclose(srt["sum"].sum(), timed["latency"].sum())


def test_streaming_latency_is_taken_from_integer_nanoseconds():
    """Float epoch seconds near 1.7e9 carry ~0.2 us of rounding; the latency must not."""
    t0 = 1_767_225_600_123_456_789
    lat = 2_500_123
    ctx = StreamContext()
    common = {"client_vmid": 3, "seq": 7, "msg_id": 0x56000004}
    ctx.fields({**common, "type": "request", "frame": 1, "time": t0 / 1e9, "time_ns": t0, "fields": {}})
    got = ctx.fields(
        {**common, "type": "reply", "frame": 2, "time": (t0 + lat) / 1e9, "time_ns": t0 + lat, "err_code": 0}
    )
    assert got["latency"] == lat / 1e9
    assert got["reply_frame"] == 2 and got["request_frame"] == 1
