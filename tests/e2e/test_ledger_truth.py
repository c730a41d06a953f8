"""The ledgers against the simulator's ground truth: every parcel and lent IRQ, event by event.

The truth log (``dissector.sim.truth``) records each parcel and IRQ the simulated RM created and
the request frames of every step that took effect. The ledger, rebuilt from the capture alone,
must find the same ones with the same frames. Runs here are small and made on the fly; bundled
traces under ``traces/`` are checked too when present. Parcels whose create request the capture
holds only in part (a ``lost_fragment`` fault: a frame the truth lists as malformed) are left
out of the attribute comparison, since no reader can know what the missing bytes said.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dissector.analysis.ledgers import df_irqs, df_memparcels, ledger_findings, messages_from_decoded
from dissector.decoded import decode_file

sim = pytest.importorskip("dissector.sim")
truth_mod = pytest.importorskip("dissector.sim.truth")

ROOT = Path(__file__).resolve().parents[2]
# truth final_state -> the ledger states that agree with it (the ledger tells "notified" apart)
PARCEL_STATES = {"created": {"created", "appending", "notified", "no_reply"}, "mapped": {"mapped"}}
IRQ_STATES = {"lent": {"lent", "notified", "no_reply"}}


def _firsts(events: list[list[int]]) -> list[int]:
    return [frames[0] for frames in events if frames]


def _na(v: Any) -> Any:
    return None if v is None or v is pd.NA else v


def _one(frame: Any) -> list[int]:
    return [] if _na(frame) is None else [int(frame)]


def _frames(*parts: Any) -> list[int]:
    return sorted(int(f) for part in parts for f in part)


def compare(truth: dict[str, Any], parcels: pd.DataFrame, irqs: pd.DataFrame) -> list[str]:
    """Differences between the truth and the ledgers, as readable lines (empty: they agree)."""
    if truth["capture"]["format"] == "hexlog":
        return compare_log(truth, parcels, irqs)
    diffs: list[str] = []
    damaged = set(truth["summary"]["malformed_frames"]) | set(truth["summary"]["missing_frames"])
    by_create = {int(r.created_frame): r for r in parcels.itertuples() if _na(r.created_frame) is not None}
    if len(parcels) != len(truth["parcels"]):
        diffs.append(f"{len(parcels)} ledger parcels, {len(truth['parcels'])} in the truth")
    for tp in truth["parcels"]:
        ev = tp["events"]
        create = _firsts(ev["create"])
        row = by_create.get(create[0]) if create else None
        if row is None:
            diffs.append(f"parcel {tp['handle']:#x} (create frame {create}) not in the ledger")
            continue
        cut = bool(set(ev["create"][0]) & damaged)
        got: dict[str, tuple[Any, Any]] = {
            "handle": (tp["handle"] if _na(row.handle) is None else int(row.handle), tp["handle"]),
            "owner": (row.owner_vmid, tp["owner"]),
            "trans_type": (row.trans_type, tp["trans_type_name"]),
            "append": (list(row.append_frames), _firsts(ev["append"])),
            "notify": (list(row.notify_frames), _firsts(ev["notify"])),
            "shared_notif": (list(row.shared_frames), _firsts(ev["shared_notif"])),
            "accepted_notif": (list(row.accepted_frames), _firsts(ev["accepted_notif"])),
            "release": (list(row.release_frames), _firsts(ev["release"])),
            "released_notif": (list(row.released_frames), _firsts(ev["released_notif"])),
            "reclaim": (_one(row.reclaimed_frame), _firsts(ev["reclaim"])),
        }  # fmt: skip
        if not cut:
            got |= {
                "mem_type": (row.mem_type, "NORMAL" if tp["mem_type"] == 0 else "IO"),
                "label": (row.label, tp["label"]),
                "acl": (list(row.acl), [(a["vmid"], a["perms"]) for a in tp["acl"]]),
                "total_size": (row.size, tp["total_size"]),
                "sgl_entries": (row.sgl_entries, tp["sgl_entries"]),
                "borrowers": (list(row.borrowers), tp["borrowers"]),
                "accept": (_frames(row.accept_frames, row.mapped_frames), sorted(_firsts(ev["accept"]))),
                "final_state": (row.state, tp["final_state"]),
            }
        for key, (mine, theirs) in got.items():
            if key == "final_state":
                if mine not in PARCEL_STATES.get(theirs, {theirs}):
                    diffs.append(f"parcel {tp['handle']:#x} final_state: ledger {mine}, truth {theirs}")
            elif _na(mine) != theirs:
                diffs.append(f"parcel {tp['handle']:#x} {key}: ledger {mine}, truth {theirs}")
    by_lend = {int(r.lent_frame): r for r in irqs.itertuples() if _na(r.lent_frame) is not None}
    if len(irqs) != len(truth["irqs"]):
        diffs.append(f"{len(irqs)} ledger IRQs, {len(truth['irqs'])} in the truth")
    for tq in truth["irqs"]:
        ev = tq["events"]
        lend = _firsts(ev["lend"])
        row = by_lend.get(lend[0]) if lend else None
        if row is None:
            diffs.append(f"IRQ {tq['handle']:#x} (lend frame {lend}) not in the ledger")
            continue
        got = {
            "handle": (tq["handle"] if _na(row.handle) is None else int(row.handle), tq["handle"]),
            "owner": (row.owner_vmid, tq["owner"]),
            "borrower": (row.vmid, tq["borrower"]),
            "virq": (row.virq, tq["virq"]),
            "label": (row.label, tq["label"]),
            "notify": (list(row.notify_frames), _firsts(ev["notify"])),
            "lent_notif": (list(row.lent_frames), _firsts(ev["lent_notif"])),
            "accept": (list(row.accept_frames), _firsts(ev["accept"])),
            "accepted_notif": (list(row.accepted_frames), _firsts(ev["accepted_notif"])),
            "release": (list(row.release_frames), _firsts(ev["release"])),
            "released_notif": (list(row.released_frames), _firsts(ev["released_notif"])),
            "reclaim": (_one(row.reclaimed_frame), _firsts(ev["reclaim"])),
            "final_state": (row.state, tq["final_state"]),
        }  # fmt: skip
        for key, (mine, theirs) in got.items():
            if key == "final_state":
                if mine not in IRQ_STATES.get(theirs, {theirs}):
                    diffs.append(f"IRQ {tq['handle']:#x} final_state: ledger {mine}, truth {theirs}")
            elif _na(mine) != theirs:
                diffs.append(f"IRQ {tq['handle']:#x} {key}: ledger {mine}, truth {theirs}")
    return diffs


def compare_log(truth: dict[str, Any], parcels: pd.DataFrame, irqs: pd.DataFrame) -> list[str]:
    """A kernel log holds the host's queue only, its frames are log records and its client is
    unknown: compare each parcel by handle (what it is, and whether it came back)."""
    diffs: list[str] = []
    mine = {
        int(r.handle): (r.trans_type, r.size, list(r.acl), r.state == "reclaimed")
        for r in parcels.itertuples()
        if _na(r.handle) is not None
    }
    theirs = {
        p["handle"]: (p["trans_type_name"], p["total_size"], [(a["vmid"], a["perms"]) for a in p["acl"]],
                      p["final_state"] == "reclaimed")
        for p in truth["parcels"]
    }  # fmt: skip
    if mine != theirs:
        diffs.append(f"log parcels: ledger {mine}, truth {theirs}")
    lent = {
        int(r.handle): (r.vmid, r.virq, r.state == "reclaimed")
        for r in irqs.itertuples()
        if _na(r.handle) is not None
    }
    truth_lent = {
        q["handle"]: (q["borrower"], q["virq"], q["final_state"] == "reclaimed") for q in truth["irqs"]
    }
    if lent != truth_lent:
        diffs.append(f"log IRQs: ledger {lent}, truth {truth_lent}")
    return diffs


def _ledgers(capture: Path) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    messages = messages_from_decoded(decode_file(str(capture)), capture=capture.name)
    return messages, df_memparcels(messages), df_irqs(messages)


RUNS = [
    # (seed, host, faults): small fleets, each a few hundred records
    (1, "v11", None),
    (2, "v17", None),
    (5, "v17", "reclaim_storm@1+2,crash=0.3"),
    (4, "v17", "lost_reply=0.05"),
    (6, "v11", "dup_reply=0.05,reused_seq=0.02,start_fail=0.3,init_fail=0.2,hang=0.2"),
    (7, "v11", "lost_fragment=0.2,garbage=0.01,truncate_end"),
    (3, "v11", "error=0.05"),
    (9, "v11", "error:MEM_RECLAIM=0.5"),  # the host gives up on a parcel RM refused to give back
]


@pytest.fixture(scope="module", params=RUNS, ids=[f"{h}-seed{s}-{f or 'clean'}" for s, h, f in RUNS])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    seed, host, faults = request.param
    out = tmp_path_factory.mktemp("sim") / f"seed{seed}.pcapng"
    result = sim.simulate(vms=3, seed=seed, duration=2.0, faults=faults, host=host, output=str(out))
    truth = truth_mod.load(result.truth_path)
    messages, parcels, irqs = _ledgers(out)
    return faults, truth, messages, parcels, irqs


def test_ledgers_match_the_simulated_truth(run):
    _, truth, _, parcels, irqs = run
    assert truth["parcels"] and truth["irqs"], "the run made no parcel or IRQ to compare"
    assert compare(truth, parcels, irqs) == []


def test_clean_runs_raise_no_ledger_finding_and_faulty_ones_explain_theirs(run):
    faults, truth, messages, parcels, irqs = run
    found = ledger_findings(messages, parcels, irqs)
    if not faults:
        assert found.empty, found["text"].tolist()
        return
    kinds = {f["kind"] for f in truth["faults"]}
    if "reclaim_storm" in kinds:
        storm = {fr for f in truth["faults"] if f["kind"] == "reclaim_storm" for fr in f["frames"]}
        stale = found[found["code"] == "mem_stale_handle"]
        assert len(stale) and all(row[0] in storm or set(row) & storm for row in stale["frames"])
    # every finding is about a run with faults: no ledger finding on a clean run, checked above


@pytest.mark.parametrize("truth_file", sorted((ROOT / "traces").glob("*.truth.json")), ids=lambda p: p.name)
def test_bundled_traces(truth_file: Path):
    capture = truth_file.with_name(truth_file.name.removesuffix(".truth.json"))
    if not capture.exists():
        pytest.skip(f"{capture.name} is not bundled beside its truth")
    truth = truth_mod.load(str(truth_file))
    messages, parcels, irqs = _ledgers(capture)
    assert compare(truth, parcels, irqs) == []
    if not truth["params"]["faults"]["spec"] and not truth.get("damage"):
        found = ledger_findings(messages, parcels, irqs)
        assert found.empty, found["text"].tolist()


def _truth_leaks(truth: dict[str, Any]) -> set[tuple[str, int]]:
    """(kind, create/lend frame) of every parcel and IRQ still out when its borrower was deallocated."""
    deallocs = [
        (i["vmid"], i["alloc"]["frames"][0] if i["alloc"]["frames"] else 0, i["dealloc"]["frames"][0])
        for i in truth["instances"]
        if i["dealloc"] and i["dealloc"]["frames"]
    ]
    out = set()
    items = [
        ("parcel", p, p["borrowers"], "create") for p in truth["parcels"] if p["trans_type_name"] != "DONATE"
    ]
    items += [("irq", q, [q["borrower"]], "lend") for q in truth["irqs"]]
    for kind, item, borrowers, created in items:
        born = _firsts(item["events"][created])[0]
        back = _firsts(item["events"]["reclaim"])
        for vmid, alloc, gone in deallocs:
            if vmid in borrowers and alloc <= born < gone and not (back and back[0] < gone):
                out.add((kind, born))
    return out


def test_leaks_are_the_truths_leaks(run):
    """A failed MEM_RECLAIM the host gives up on, or a lost reply that loses it a handle: the sim's
    RM keeps the parcel past VM_DEALLOCATE. The ledger reports exactly those, nothing else."""
    faults, truth, messages, parcels, irqs = run
    if faults and "MEM_RECLAIM" in faults:
        assert _truth_leaks(truth), "this run was chosen for its leaks"
    found = ledger_findings(messages, parcels, irqs)
    created = {int(f) for f in parcels["created_frame"].dropna()} | {
        int(f) for f in irqs["lent_frame"].dropna()
    }
    reported = set()
    for code, frames in zip(found["code"], found["frames"], strict=True):
        if code in ("mem_leak", "irq_leak"):
            kind = "parcel" if code == "mem_leak" else "irq"
            reported |= {(kind, f) for f in frames if f in created}
    assert reported == _truth_leaks(truth)
