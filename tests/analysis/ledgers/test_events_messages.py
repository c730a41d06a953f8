"""The ledger messages a Trace hands the ledgers: the codec-built dicts equal Scapy's ``to_json``.

``messages_from_columns`` decodes well-formed ledger messages with the compiled codec instead of a
Scapy packet each; every dict must be exactly the one ``DecodedMessage.to_json`` gives (keys,
values, value types, key order), on every bundled trace in each dialect it is read in, and on
simulated captures with every kind of fault, so the ledgers and their findings cannot change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dissector
from dissector.analysis.ledgers import LEDGER_MSG_IDS, df_irqs, df_memparcels, ledger_findings
from dissector.analysis.ledgers.events import messages_from_columns
from dissector.decoded import DecodedMessage
from dissector.sim import simulate

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
