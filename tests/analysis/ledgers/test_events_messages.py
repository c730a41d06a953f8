"""The ledger messages a Trace hands the ledgers: the codec-built dicts equal Scapy's ``to_json``,
and the stories made from the message columns equal those the dicts make.

``messages_from_columns`` decodes well-formed ledger messages with the compiled codec instead of a
Scapy packet each; every dict must be exactly the one ``DecodedMessage.to_json`` gives (keys,
values, value types, key order), on every bundled trace in each dialect it is read in, and on
simulated captures with every kind of fault, so the ledgers and their findings cannot change.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dissector
from dissector.analysis.ledgers import LEDGER_MSG_IDS, df_irqs, df_memparcels, ledger_findings
from dissector.analysis.ledgers.events import (
    _LIGHT,
    _UNKNOWN,
    Call,
    LazyMessage,
    ledger_messages,
    messages_from_columns,
    stories,
)
from dissector.decoded import DecodedMessage
from dissector.sim import simulate
from tests.analysis.ledgers.ledger_sessions import ERR, HOST, Session

TRACES = Path(__file__).resolve().parents[3] / "traces"
BUNDLED = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))
FAULTS = (
    "error=0.03,lost_reply=0.02,dup_reply=0.02,reused_seq=0.01,crash=0.2,start_fail=0.1,init_fail=0.05,"
    "hang=0.05,reclaim_storm=0.1,lost_fragment=0.02,garbage=0.01,truncate_end"
)


def _by_scapy(trace: dissector.Trace, dialect: str) -> list[dict]:
    """What ``messages_from_columns`` gave before the codec: a Scapy dissection per message."""
    out = []
    for cols in trace._base.columns:
        if cols.raw_message is None or not len(cols):
            continue
        rows = np.flatnonzero(np.isin(cols.msg_id, np.fromiter(LEDGER_MSG_IDS, np.int64))).tolist()
        last = int(np.argmax(cols.frame))
        if last not in rows:
            rows.append(last)
        for i in rows:
            out.append({**DecodedMessage(cols.raw_message(i), dialect).to_json(), "capture": cols.capture})
    return out


def _typed(row: dict) -> list[tuple]:
    return [(k, type(v).__name__, v) for k, v in row.items()]


def _assert_same(path: Path, dialect: str) -> int:
    trace = dissector.open(str(path), dialect=dialect)
    fast = messages_from_columns(trace._base.columns, dialect)
    slow = _by_scapy(trace, dialect)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert _typed(a) == _typed(b), f"{path.name} frame {b['frame']}"
    return len(fast)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_traces(path: Path) -> None:
    dialects = ("rm", "linux-v16", "linux-v17") if path.name.startswith(("v16", "v17")) else ("rm",)
    for dialect in dialects:
        assert _assert_same(path, dialect) > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_faults(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "faults.pcapng"
    simulate(vms=6, seed=seed, duration=4.0, faults=FAULTS, output=str(path), truth=False)
    assert _assert_same(path, "rm") > 100


def test_ledgers_share_one_grouping(tmp_path: Path) -> None:
    """The parcel ledger, the IRQ ledger and the checks replay one set of stories, and equal what
    a plain list of the same dicts gives."""
    path = tmp_path / "sim.pcapng"
    faults = "lost_reply=0.05,reclaim_storm=0.2"
    simulate(vms=4, seed=9, duration=3.0, faults=faults, output=str(path), truth=False)
    trace = dissector.open(str(path))
    shared = messages_from_columns(trace._base.columns)
    plain = list(shared)
    parcels, irqs = df_memparcels(shared), df_irqs(shared)
    assert shared.stories is not None and len(parcels) > 0 and len(irqs) > 0
    assert parcels.equals(df_memparcels(plain)) and irqs.equals(df_irqs(plain))
    assert ledger_findings(shared, parcels, irqs).equals(ledger_findings(plain))


# --- a Trace's stories, made from the columns (``ledger_messages``) ------------------------------
def _allocation_is_quiet(call: Call) -> bool:
    """What ``checks.allocate`` needs to stay silent, read from the dicts."""
    if not call.ok:
        return True
    asked, got = call.fields.get("vmid"), call.reply_fields.get("vmid")
    return asked is not None and got is not None and (int(asked) == 0 or int(asked) == int(got))


def _assert_same_stories(trace: dissector.Trace, dialect: str) -> int:
    """The column-made stories equal those of the jsonl dicts, less VM_ALLOCATE calls no check can
    flag; every dict they hold is the dict ``messages_from_columns`` gives for that frame."""
    fast = ledger_messages(trace._base.columns, dialect)
    slow = stories(messages_from_columns(trace._base.columns, dialect))
    assert fast.stories is not None and len(fast.stories) == len(slow)
    by_frame = {(m["capture"], m["frame"]): m for m in messages_from_columns(trace._base.columns, dialect)}
    left_out = 0
    for a, b in zip(fast.stories, slow, strict=True):
        assert (a.capture, a.last_frame, a.vm_events) == (b.capture, b.last_frame, b.vm_events)
        assert a.end_time == b.end_time or (math.isnan(a.end_time) and math.isnan(b.end_time))
        kept = iter(a.events)
        want = next(kept, None)
        for event in b.events:
            if event == want:
                want = next(kept, None)
                continue
            assert event.name == "VM_ALLOCATE" and isinstance(event, Call) and _allocation_is_quiet(event)
            left_out += 1
        assert want is None  # every column-made event is one of the dicts' events, in order
    for m in fast:
        want = by_frame[(m["capture"], m["frame"])]
        read = {key: m[key] for key in sorted(_LIGHT)}  # before the whole dict: the light path
        assert _typed(read) == _typed({key: want[key] for key in sorted(_LIGHT)})
        assert _typed(m) == _typed(want)
    return left_out


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_column_stories_on_bundled_traces(path: Path) -> None:
    dialects = ("rm", "linux-v16", "linux-v17") if path.name.startswith(("v16", "v17")) else ("rm",)
    for dialect in dialects:
        _assert_same_stories(dissector.open(str(path), dialect=dialect), dialect)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_column_stories_on_simulated_faults(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "faults.pcapng"
    simulate(vms=6, seed=seed, duration=4.0, faults=FAULTS, output=str(path), truth=False)
    assert _assert_same_stories(dissector.open(str(path)), "rm") > 0


def test_column_stories_keep_every_allocation_a_check_reads(tmp_path: Path) -> None:
    """VM_ALLOCATE replies that contradict their request (or cannot be read) stay in the stories,
    and the Trace's ledger findings equal those of the decoded dicts."""
    s = Session()
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x21}, {"vmid": 0x22})  # mismatch
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0})  # RM chose, but says nothing
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x23})  # standard reply to a fixed VMID: fine
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0}, {"vmid": 0x80})  # fine
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x24}, {"vmid": 0x24})  # fine
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x25}, err=ERR["DENIED"])  # refused
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x26}, answered=False)  # no reply
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x27}, reply_payload=b"\x01")  # a cut reply
    trace = dissector.open(str(s.write(tmp_path / "alloc.pcapng")))
    assert _assert_same_stories(trace, "rm") == 4
    found = trace._base.get("ledger_findings")
    expected = ledger_findings(s.messages())
    assert list(found["code"]) == ["allocate_reply_mismatch", "allocate_reply_mismatch"]
    assert list(found["text"]) == list(expected["text"])


# --- LazyMessage ---------------------------------------------------------------------------------
def test_lazy_message_is_its_dict_and_decodes_only_when_asked() -> None:
    full = {"frame": 7, "msg_id": 0x51, "err_code": 0, "fields": {"mem_handle": 3}, "malformed": None}
    made: list[int] = []

    def decode() -> dict[str, Any]:
        made.append(1)
        return dict(full)

    reply = LazyMessage(7, 0x51, 0, decode)
    assert (reply["frame"], reply["msg_id"], reply.get("err_code")) == (7, 0x51, 0) and not made
    request = LazyMessage(7, 0x51, _UNKNOWN, decode)
    assert request.get("absent", "x") == "x" and made == [1]  # anything else decodes
    assert request == full and dict(request) == full and request["fields"] == {"mem_handle": 3}
    assert made == [1]  # once
