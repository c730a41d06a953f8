"""Issue 15: what an independent audit found, as known answers in every dialect concerned.

The capture is written byte by byte (``tests.fidelity``); ghrm is run as a user runs it
(``ghrm decode --format jsonl`` and ``-V`` through ``dissector.cli.main``) and through the
library (``dissector.layers.dissect``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dissector.cli import main
from dissector.layers import dissect, fields_of, malformations, payload_layer
from tests.fidelity import CASES, DIALECTS, T0, Case, capture_bytes, frame_of, h


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fidelity") / "audit.pcap"
    path.write_bytes(capture_bytes())
    return path


def _run(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert main(list(argv), out, err) == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def jsonl(capture: Path) -> dict[str, list[str]]:
    """Raw jsonl lines per dialect."""
    return {
        d: _run("decode", "--format", "jsonl", "--dialect", d, str(capture)).splitlines() for d in DIALECTS
    }


@pytest.fixture(scope="module")
def trees(capture: Path) -> dict[str, list[str]]:
    """The -V text of each message, per dialect."""
    out = {}
    for d in DIALECTS:
        text = _run("decode", "-V", "--dialect", d, str(capture))
        out[d] = ["Message at frame" + part for part in text.split("Message at frame")[1:]]
    return out


def _case_ids(cases: tuple[Case, ...]) -> list[str]:
    return [c.name for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_case_ids(CASES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_jsonl_known_answers(jsonl, case: Case, dialect: str) -> None:
    record = json.loads(jsonl[dialect][frame_of(case.name) - 1])
    assert record["malformed"] is None
    if dialect in case.fields:
        assert record["fields"] == case.fields[dialect]
    if dialect in case.msg_name:
        assert record["msg_name"] == case.msg_name[dialect]
    if dialect in case.err_name:
        assert record["err_name"] == case.err_name[dialect]


@pytest.mark.parametrize("case", CASES, ids=_case_ids(CASES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_verbose_tree_names_follow_the_dialect(trees, case: Case, dialect: str) -> None:
    text = trees[dialect][frame_of(case.name) - 1]
    assert "[Malformed" not in text
    for line in case.tree.get(dialect, ()):
        assert line in text, f"{line!r} not in\n{text}"
    for word in case.not_in_tree.get(dialect, ()):
        assert word not in text


@pytest.mark.parametrize("case", CASES, ids=_case_ids(CASES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_library_dissect_honours_the_dialect(case: Case, dialect: str) -> None:
    pkt = dissect(case.message, dialect=dialect)
    assert malformations(pkt) == []
    if dialect in case.fields:
        assert fields_of(payload_layer(pkt)) == case.fields[dialect]
    tree = pkt.show(dump=True)
    for line in case.tree.get(dialect, ()):
        if not line.startswith("err_code") and "(0x5" not in line:
            assert line in tree
    assert bytes(pkt) == case.message


def test_jsonl_time_keeps_the_capture_resolution(jsonl) -> None:
    """12: time printed exactly at the capture's (microsecond) resolution, time_ns exact."""
    first = jsonl["rm"][0]
    assert f'"time":{T0}.002000,' in first
    record = json.loads(first)
    assert record["time_ns"] == T0 * 10**9 + 2_000_000
    keys = list(record)
    assert keys[: keys.index("malformed") + 2][-2:] == ["malformed", "time_ns"]
    assert keys[:3] == ["frame", "frames", "time"]


def test_jsonl_time_in_nanoseconds(tmp_path: Path) -> None:
    from tests.capture.capbytes import cap, pcap_file

    path = tmp_path / "ns.pcap"
    msg = h("21 02 05 00 24 00 00 56  00 00 00 00  46 00 01 00")
    path.write_bytes(pcap_file([(T0, 2_000_123, cap(msg, 2))], nano=True))
    line = _run("decode", "--format", "jsonl", str(path)).splitlines()[0]
    assert f'"time":{T0}.002000123,' in line
    assert json.loads(line)["time_ns"] == T0 * 10**9 + 2_000_123


def test_list_header_at_the_end_reads_as_an_empty_list() -> None:
    """3: every RM list follows rm_rpc_read_list, not only the attr list; a cut inside one is not."""
    whole = next(c for c in CASES if c.name == "mem_lend_ends_after_acl").message
    assert malformations(dissect(whole)) == []
    cut = dissect(whole + h("01 00"))  # half an SGL list header
    assert [p.kind for p in malformations(cut)] == ["truncated"]


def test_by_size_picks_the_layout_from_the_exact_length() -> None:
    """2: 12 bytes read as RM's layout, 10 as the packed one, 11 as RM's (truncated)."""
    twelve = dissect(h("21 03 07 00 11 00 10 56  03 00 00 00  07 00 00 00  01 10 00 00"))
    ten = dissect(h("21 03 07 00 11 00 10 56  03 00  07 00 00 00  01 10 00 00"))
    eleven = dissect(h("21 03 07 00 11 00 10 56  03 00 00 00  07 00 00 00  01 10 00"))
    assert type(payload_layer(twelve)).__name__ == "VMIrqLentNotif"
    assert type(payload_layer(ten)).__name__ == "VMIrqLentNotifPacked"
    assert fields_of(payload_layer(twelve)) == fields_of(payload_layer(ten))
    assert [p.kind for p in malformations(eleven)] == ["truncated"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fast_path_equals_scapy_in_every_dialect(capture: Path, dialect: str) -> None:
    """The columnar fast path reads layouts and names malformations as the dialect does."""
    from dissector.analysis import fastpath
    from dissector.analysis.scapy_path import columns_from_decoded
    from dissector.capture.detect import open_records
    from dissector.capture.record import Direction, Record
    from dissector.decoded import decode_records
    from dissector.decoders import columnar

    records = list(open_records(str(capture)))
    extra = [  # malformed ones: a cut VM_RESET request (VM_SHUTDOWN in rm-2021), a cut MEM_ACCEPT reply
        h("21 01 30 00 06 00 00 56  80 00"),
        h("21 02 31 00 11 00 00 51  00 00 00 00  01 00 01 00  00 00"),
    ]
    n = len(records)
    records += [Record(n + 1 + i, (T0 + 1) * 10**9, Direction.TO_RM, 0x45, m) for i, m in enumerate(extra)]
    rc, _ = fastpath.columns_from_records(records, "s")
    fast = columnar.decode(rc, "s", dialect)
    ref, _ = columns_from_decoded(decode_records(records, dialect=dialect), "s")
    assert fast.differences(ref) == []
    texts = [m for m in fast.malformed if m]
    assert len(texts) == 2
    assert ("VM_SHUTDOWN request" if dialect == "rm-2021" else "VM_RESET request") in texts[0]


def test_crash_finding_quotes_the_printable_message() -> None:
    """The crash_message finding reads the crash text from msg_text (msg itself is hex now)."""
    import dissector

    trace = Path(__file__).resolve().parents[2] / "traces" / "watchdog_crash.pcapng"
    found = dissector.open(str(trace)).findings
    texts = found[found["code"] == "crash_message"]["text"].tolist()
    assert texts == ['VM 0x80 reported a crash: "Kernel panic - not syncing: softlockup: hung tasks"']


def test_mem_shared_ending_after_its_acl_reaches_the_ledger(recwarn: pytest.WarningsRecorder) -> None:
    """A MEM_SHARED whose SGL list is left out is well formed now (item 3), so the parcel ledger
    sees it; a trans_type no source names is left unknown, not an out-of-category value."""
    from dissector.capture.record import Direction, Record
    from dissector.trace import Trace

    msg = h("21 03 00 00 11 00 10 51  00 00 00 00  00 03 00 00") + bytes(20)
    trace = Trace.from_records([Record(1, T0 * 10**9, Direction.FROM_RM, 3, msg)], engine="scapy")
    assert trace.messages["malformed"].isna().all()
    parcels = trace.memparcels
    assert parcels["trans_type"].isna().all()
    assert not [w for w in recwarn if "Categorical" in str(w.message)]


def test_lifecycles_do_not_depend_on_the_names_a_dialect_shows() -> None:
    """The state rules are keyed by RM names: VM_ALLOC_VMID / VM_DEALLOC_VMID (the Linux
    dialects' names) must drive them as VM_ALLOCATE / VM_DEALLOCATE do."""
    import pandas as pd

    import dissector

    trace = Path(__file__).resolve().parents[2] / "traces" / "v17_host.pcapng"
    rm = dissector.open(str(trace), dialect="rm")
    linux = dissector.open(str(trace), dialect="linux-v17")
    assert {"VM_ALLOC_VMID", "VM_DEALLOC_VMID"} <= set(linux.messages["name"].astype(str))
    pd.testing.assert_frame_equal(rm.lifecycles, linux.lifecycles)
