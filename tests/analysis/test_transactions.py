"""Messages, transactions, SRT and errors tables on small hand-built conversations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dissector.analysis.schema import TABLES
from dissector.analysis.timebase import public_schema
from dissector.capture.record import Direction
from dissector.trace import Trace
from tests.analysis.rmconvo import Conversation, msg_id, notification, reply, request

START = msg_id("VM_START")


def trace_of(c: Conversation, **kw) -> Trace:
    return Trace.from_records(c.records, capture="test", **kw)


def test_every_table_has_its_declared_schema_even_when_empty():
    for conv in (Conversation(), _busy()):
        t = trace_of(conv)
        for name, schema in TABLES.items():
            schema.check(t._view(name))  # the internal table the analysis works on
            public_schema(schema).check(getattr(t, name))  # what the user sees


def _busy() -> Conversation:
    c = Conversation()
    c.boot(0x80)
    c.call("VM_START", err=2, vmid=0x81)
    c.send("VM_GET_VMID")
    c.teardown(0x80)
    c.raw(b"\x21\x01")
    return c


def test_messages_columns_and_vmid_sources():
    c = Conversation()
    alloc = c.call("VM_ALLOCATE", vmid=0, reply_fields={"vmid": 0x82})
    start = c.call("VM_START", vmid=0x82)
    state = c.call("VM_GET_STATE", vmid=0)  # 0 = the caller itself
    c.status(0x82, 3)
    m = trace_of(c).messages.set_index("frame")
    assert m.loc[alloc[0], "vmid"] == 0x82 and m.loc[alloc[0], "vmid_source"] == "allocated"
    assert m.loc[alloc[1], "vmid"] == 0x82 and m.loc[alloc[1], "vmid_source"] == "allocated"
    assert m.loc[start[0], "vmid_source"] == "payload" and m.loc[start[1], "vmid_source"] == "request"
    assert m.loc[state[0], "vmid"] == 3 and m.loc[state[0], "vmid_source"] == "client"
    last = m.iloc[-1]
    assert last["name"] == "VM_STATUS" and last["vm_status"] == 3 and last["vmid"] == 0x82
    assert m.loc[start[1], "err_name"] == "OK" and m.loc[start[1], "type"] == "reply"
    assert m["payload_len"].tolist()[:2] == [4, 8]


def test_fragmented_message_is_one_row_with_all_frames():
    c = Conversation()
    big = reply("VM_GET_HYP_RESOURCES", 7, 0) + bytes(300)
    frames = c.add(big[:8] + big[8:], Direction.FROM_RM)
    m = trace_of(c).messages
    assert len(m) == 1 and m["frames"].iloc[0] == tuple(frames) and len(frames) == 2
    assert m["length"].iloc[0] == len(big)


def test_malformed_reason_is_the_decoders_text():
    c = Conversation()
    c.raw(request("VM_START", 1, vmid=0x80)[:9])
    m = trace_of(c).messages
    assert m["malformed"].iloc[0] == "VM_START request: field vmid needs 2 byte(s), 1 left"
    assert m["malformed_kind"].iloc[0] == "truncated"


def test_transaction_statuses_and_latency():
    c = Conversation()
    ok = c.call("VM_START", vmid=0x80, latency_ns=2_500_000)
    bad = c.call("VM_START", err=2, vmid=0x81)
    dup = c.answer("VM_START", 2, err=2)
    lost, _ = c.send("VM_INIT", vmid=0x80)
    retx, seq = c.send("VM_GET_VMID")
    again, _ = c.send("VM_GET_VMID", seq=seq)
    answered = c.answer("VM_GET_VMID", seq, vmid=3)
    orphan = c.answer("VM_STOP", 999)
    tx = trace_of(c).transactions.set_index("request_frame", drop=False)
    assert tx.loc[ok[0], "status"] == "ok" and tx.loc[ok[0], "reply_frame"] == ok[1]
    assert tx.loc[ok[0], "latency_ns"] == 2_500_000 and math.isclose(tx.loc[ok[0], "latency"], 0.0025)
    rows = tx.reset_index(drop=True)
    bad_rows = rows[rows["request_frame"] == bad[0]]
    assert sorted(bad_rows["status"].astype(str)) == ["duplicate_reply", "error"]
    assert bad_rows[bad_rows["status"] == "duplicate_reply"]["reply_frame"].iloc[0] == dup
    assert bad_rows[bad_rows["status"] == "error"]["replies"].iloc[0] == 2
    assert tx.loc[lost, "status"] == "unanswered" and np.isnan(tx.loc[lost, "latency"])
    # the same key sent again while open: RM answers in order, so the first gets the reply
    assert tx.loc[retx, "status"] == "ok" and tx.loc[retx, "reply_frame"] == answered
    assert tx.loc[retx, "reused_in"] == again and tx.loc[again, "status"] == "retransmitted"
    orphans = rows[rows["status"] == "orphan_reply"]
    assert orphans["reply_frame"].tolist() == [orphan] and orphans["request_frame"].isna().all()


def test_seq_wrap_pairs_in_order_not_by_seq_alone():
    c = Conversation(step_ns=1000)
    frames = []
    for _ in range(3):  # the same (client, seq, msg_id) three times, each answered
        req, _ = c.send("VM_START", seq=0, vmid=0x80)
        frames.append((req, c.answer("VM_START", 0, latency_ns=500)))
    tx = trace_of(c).transactions
    assert tx["status"].tolist() == ["ok"] * 3
    assert list(zip(tx["request_frame"], tx["reply_frame"], strict=True)) == frames
    assert (tx["latency_ns"] == 500).all()


def test_reused_key_while_open_is_answered_in_order():
    c = Conversation()
    r1, seq = c.send("MEM_NOTIFY", mem_handle=1, flags=1)
    r2, _ = c.send("MEM_NOTIFY", seq=seq, mem_handle=2, flags=1)
    p1 = c.answer("MEM_NOTIFY", seq, latency_ns=1000)
    p2 = c.answer("MEM_NOTIFY", seq, latency_ns=1000)
    tx = trace_of(c).transactions
    assert list(zip(tx["request_frame"], tx["reply_frame"], tx["status"].astype(str), strict=True)) == [
        (r1, p1, "ok"),
        (r2, p2, "ok"),
    ]
    assert "reused_seq" in trace_of(c).findings["code"].astype(str).tolist()


def test_requests_without_seq_pair_by_client_and_id_in_order():
    c = Conversation()
    c.add(request("VM_START", 0, vmid=0x80), Direction.TO_RM)
    c.add(reply("VM_START", 41, 2), Direction.FROM_RM)
    import dataclasses

    c.records[0] = dataclasses.replace(c.records[0], seq_known=False, synthetic="TX dump")
    tx = trace_of(c).transactions
    assert tx["status"].tolist() == ["error"] and tx["reply_frame"].tolist() == [2]
    assert tx["seq"].isna().all()


def test_srt_counts_first_replies_and_filters():
    c = Conversation()
    for k, lat in enumerate((1, 2, 3, 4)):
        c.call("VM_START", err=2 if k == 3 else 0, vmid=0x80 + k % 2, latency_ns=lat * 1_000_000)
    c.answer("VM_START", 4, err=2)  # a duplicate: not timed again
    c.send("VM_START", vmid=0x80)  # unanswered
    t = trace_of(c)
    srt = t.srt.set_index("name")
    row = srt.loc["VM_START"]
    assert (row["calls"], row["errors"], row["unanswered"]) == (5, 1, 1)  # calls: every request
    assert math.isclose(row["min"], 0.001) and math.isclose(row["max"], 0.004)
    assert math.isclose(row["mean"], 0.0025) and math.isclose(row["sum"], 0.010)
    assert math.isclose(row["p50"], 0.0025)
    only81 = t.df_srt(vmid=0x81).set_index("name").loc["VM_START"]
    assert (only81["calls"], only81["errors"]) == (2, 1)
    late = t.df_srt(start=0.0045)  # seconds since the start, or an absolute time:
    pd.testing.assert_frame_equal(late, t.df_srt(start=t.start + pd.Timedelta(seconds=0.0045)))
    assert late.set_index("name").loc["VM_START", "calls"] == 3  # two answered, one unanswered


def test_errors_table_counts_every_error_reply_with_errno():
    c = Conversation()
    a = c.call("VM_START", err=2, vmid=0x80)
    b = c.call("VM_START", err=2, vmid=0x81)
    d = c.answer("VM_START", 2, err=2)  # duplicate error reply counts too: RM sent it
    e = c.call("MEM_RECLAIM", err=7, mem_handle=5)
    errors = trace_of(c).errors
    top = errors.iloc[0]
    assert (top["name"], top["err_name"], top["errno"], top["count"]) == (
        "VM_START",
        "NORESOURCE",
        "-ENODEV",
        3,
    )
    assert top["frames"] == (a[1], b[1], d) and top["vmids"] == (0x80, 0x81)
    rec = errors[errors["name"] == "MEM_RECLAIM"].iloc[0]
    assert (rec["err_name"], rec["errno"], rec["frames"]) == ("HANDLE_INVALID", "-EINVAL", (e[1],))


def test_notification_and_garbage_are_not_transactions():
    c = Conversation()
    c.add(notification("VM_STATUS", 1, vmid=0x80, vm_status=3), Direction.FROM_RM)
    c.raw(b"\x21")
    assert trace_of(c).transactions.empty


@pytest.mark.parametrize("engine", ["fast", "scapy"])
def test_both_engines_build_the_same_tables(engine):
    ref = trace_of(_busy(), engine="scapy")
    got = trace_of(_busy(), engine=engine)
    for name in TABLES:
        import pandas.testing as pdt

        pdt.assert_frame_equal(getattr(got, name), getattr(ref, name), obj=name)


@pytest.mark.parametrize("name", ["faults_mix.pcapng", "malformed_bad_api.pcapng", "hang.pcap"])
def test_garbage_reads_only_the_broken_headers(name):
    """``garbage`` looks up the ids of the broken headers alone: the same rows as every id."""
    from pathlib import Path

    import dissector
    from dissector.analysis.transactions import garbage, known_ids

    m = dissector.open(str(Path(__file__).resolve().parents[2] / "traces" / name))._base.get("messages")
    every = ~np.isin(m["msg_id"].to_numpy(np.int64, na_value=-1), known_ids())
    assert garbage(m).tolist() == ((m["malformed_kind"] == "header").to_numpy(bool) & every).tolist()
