"""The parcel and IRQ ledgers on sessions built here (real bytes, decoded as ``ghrm decode`` does)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from dissector.analysis.ledgers import IRQS, MEMPARCELS, df_irqs, df_memparcels, ledger_findings, wanted
from dissector.analysis.ledgers.events import LEDGER_MESSAGES
from dissector.protocol import registry
from tests.analysis.ledgers.ledger_sessions import ERR, HOST, MiB, Session, acl, sgl, vm_life


def _row(table: pd.DataFrame, handle: int, instance: int = 1) -> pd.Series:
    rows = table[(table["handle"] == handle) & (table["instance"] == instance)]
    assert len(rows) == 1, f"{len(rows)} rows for handle {handle:#x}#{instance}"
    return rows.iloc[0]


@pytest.fixture(scope="module")
def clean() -> tuple[object, list[dict]]:
    life = vm_life()
    return life, life.messages()


def test_clean_life_parcels(clean):
    life, messages = clean
    f = life.frames
    table = df_memparcels(messages)
    MEMPARCELS.check(table)
    assert list(table["handle"]) == [0x10, 0x11, 0x12]
    dtb = _row(table, 0x10)
    assert dtb["owner_vmid"] == HOST and dtb["vmid"] == 0x80 and dtb["borrowers"] == (0x80,)
    assert dtb["trans_type"] == "LEND" and dtb["mem_type"] == "NORMAL" and dtb["label"] == 1
    assert dtb["acl"] == ((0x80, 7),) and dtb["acl_text"] == "0x80:RWX"
    assert dtb["sgl_entries"] == 2 and dtb["size"] == 4 * MiB and dtb["complete"]  # MEM_APPEND counted
    assert dtb["created_frame"] == f["lend_dtb"].request and dtb["handle_frame"] == f["lend_dtb"].reply
    assert dtb["append_frames"] == (f["append_dtb"].request,)
    assert (
        dtb["config_frames"] == (f["config"].request,) and dtb["used_by"] == "VM 0x80 DTB: 2 MiB at +0x200000"
    )
    assert dtb["mapped_frames"] == (f["init"].request,) and dtb["accepted_by"] == (0x80,)
    assert dtb["reclaimed_frame"] == f["reclaim_dtb"].request and dtb["state"] == "reclaimed"
    assert dtb["handle_source"] == "reply" and dtb["errors"] == 0 and dtb["failed_calls"] == ""
    fw = _row(table, 0x11)
    assert fw["used_by"] == "VM 0x80 firmware: 1 MiB at +0x0" and fw["size"] == MiB

    buf = _row(table, 0x12)
    assert (
        buf["trans_type"] == "SHARE" and buf["acl_text"] == "0x3:RW 0x80:RW" and buf["borrowers"] == (0x80,)
    )
    assert buf["notify_frames"] == (f["notify"].request,) and buf["shared_with"] == (0x80,)
    assert (
        len(buf["shared_frames"]) == 1
        and len(buf["accepted_frames"]) == 1
        and len(buf["released_frames"]) == 1
    )
    assert buf["accept_frames"] == (f["accept"].request,)
    assert buf["accept_ipas"] == ((0x80, 0x4000_0000),)  # RM chose the IPA: from the reply SGL
    assert buf["release_frames"] == (f["release"].request,) and buf["released_by"] == (0x80,)
    assert buf["mapped_frames"] == ()  # shared after VM_INIT: the guest accepts it itself
    assert buf["state"] == "reclaimed" and buf["reclaimed_frame"] == f["reclaim_buf"].request


def test_clean_life_irq(clean):
    life, messages = clean
    f = life.frames
    table = df_irqs(messages)
    IRQS.check(table)
    assert len(table) == 1
    irq = table.iloc[0]
    assert irq["handle"] == 0x20 and irq["owner_vmid"] == HOST and irq["vmid"] == 0x80
    assert irq["virq"] == 72 and irq["label"] == 5
    assert irq["lent_frame"] == f["irq_lend"].request and irq["handle_frame"] == f["irq_lend"].reply
    assert f["irq_notify"].request in irq["notify_frames"] and len(irq["lent_frames"]) == 1
    assert (
        irq["accepted_by"] == 0x80
        and irq["accepted_virq"] == 40
        and irq["accept_frames"] == (f["irq_accept"].request,)
    )
    assert len(irq["accepted_frames"]) == 1
    assert irq["reclaimed_frame"] == f["irq_reclaim"].request and irq["state"] == "reclaimed"


def test_clean_life_has_no_ledger_findings(clean):
    _, messages = clean
    found = ledger_findings(messages)
    assert found.empty, found["text"].tolist()


def test_inputs_are_not_modified_and_order_does_not_matter(clean):
    _, messages = clean
    before = copy.deepcopy(messages)
    table = df_memparcels(messages)
    assert messages == before
    shuffled = list(reversed(messages))
    pd.testing.assert_frame_equal(df_memparcels(shuffled), table)
    # only the ledger messages matter: the others may be left out by the caller
    pd.testing.assert_frame_equal(df_memparcels([m for m in messages if wanted(m)]), table)


def test_empty_input_gives_declared_columns():
    for table, schema in ((df_memparcels([]), MEMPARCELS), (df_irqs([]), IRQS)):
        assert table.empty
        schema.check(table)
    assert ledger_findings([]).empty


def test_ledger_messages_are_known_names():
    for name in LEDGER_MESSAGES:
        assert registry.resolve_message(name).name == name


def test_handle_reused_after_reclaim_starts_a_new_row():
    life = vm_life(reuse_dtb_handle=True)
    table = df_memparcels(life.messages())
    first, second = _row(table, 0x10, 1), _row(table, 0x10, 2)
    assert first["state"] == "reclaimed" and first["borrowers"] == (0x80,)
    assert second["state"] == "created" and second["borrowers"] == (0x81,)
    assert second["created_frame"] == life.frames["relend"].request


def test_error_replies_do_not_advance_the_state():
    s = Session()
    s.call(HOST, "MEM_LEND", {"acl": acl((0x80, 6)), "sgl": sgl((0, MiB))}, {"mem_handle": 5})
    s.call(HOST, "MEM_RECLAIM", {"mem_handle": 5}, err=registry.resolve_error("MEM_INUSE"))
    later = s.call(HOST, "MEM_RECLAIM", {"mem_handle": 5})
    row = df_memparcels(s.messages()).iloc[0]
    assert row["errors"] == 1 and row["reclaimed_frame"] == later.request
    assert row["failed_calls"].startswith("MEM_RECLAIM MEM_INUSE @")


def test_create_without_reply_then_inferred_handle():
    s = Session()
    lost = s.call(HOST, "MEM_LEND", {"acl": acl((0x80, 6)), "sgl": sgl((0, MiB))}, answered=False)
    reclaim = s.call(HOST, "MEM_RECLAIM", {"mem_handle": 9})  # RM says OK: handle 9 was that parcel
    row = df_memparcels(s.messages()).iloc[0]
    assert row["handle"] == 9 and row["handle_source"] == "inferred"
    assert row["created_frame"] == lost.request and pd.isna(row["handle_frame"])
    assert row["reclaimed_frame"] == reclaim.request and "no reply" in row["failed_calls"]
    # without a later use the handle stays unknown
    s2 = Session()
    s2.call(HOST, "MEM_LEND", {"acl": acl((0x80, 6)), "sgl": sgl((0, MiB))}, answered=False)
    row = df_memparcels(s2.messages()).iloc[0]
    assert pd.isna(row["handle"]) and row["state"] == "no_reply" and row["handle_source"] == "no_reply"


def test_parcel_created_before_the_capture():
    """A guest's queue only: MEM_SHARED describes the parcel; accept and release follow."""
    s = Session()
    shared = s.notify(
        0x80,
        "MEM_SHARED",
        {"mem_handle": 0x44, "mem_type": 0, "trans_type": 2, "owner_vmid": HOST, "label": 7,
         "mem_info_tag": 1, "acl": acl((HOST, 6), (0x80, 6)), "sgl": [{"size": MiB}, {"size": MiB}],
         "attrs": []},
    )  # fmt: skip
    acc = s.call(
        0x80,
        "MEM_ACCEPT",
        {"mem_handle": 0x44, "trans_type": 2, "flags": 0x80, "sgl": sgl((0x1000, 2 * MiB))},
    )
    table = df_memparcels(s.messages())
    row = table.iloc[0]
    assert row["handle_source"] == "unseen" and pd.isna(row["created_frame"])
    assert row["owner_vmid"] == HOST and row["trans_type"] == "SHARE" and row["label"] == 7
    assert row["size"] == 2 * MiB and row["sgl_entries"] == 2 and row["shared_frames"] == (shared,)
    assert row["accept_frames"] == (acc.request,) and row["accept_ipas"] == ((0x80, 0x1000),)
    assert ledger_findings(s.messages()).empty


def test_captures_are_kept_apart():
    a, b = vm_life().messages(), vm_life(dtb_handle=0x30).messages()
    for m in a:
        m["capture"] = "a.pcapng"
    for m in b:
        m["capture"] = "b.pcapng"
    table = df_memparcels(a + b)
    assert list(table["capture"].cat.categories) == ["a.pcapng", "b.pcapng"]
    assert (table["capture"] == "a.pcapng").sum() == 3 and (table["capture"] == "b.pcapng").sum() == 3
    assert (table["instance"] == 1).all()  # the same handles in two captures are two RMs
    assert ledger_findings(a + b).empty


def test_messages_without_seq_pair_in_order():
    """Kernel TX logs do not record a request's seq: pairing falls back to order."""
    messages = vm_life().messages()
    for m in messages:
        if m["type"] == "request":
            m["seq"] = None
    table = df_memparcels(messages)
    assert list(table["state"]) == ["reclaimed"] * 3 and list(table["handle"]) == [0x10, 0x11, 0x12]


def test_parcel_of_an_earlier_vm_is_not_mapped_into_the_next():
    """A VMID reused after VM_DEALLOCATE is a new VM: what was lent to the old one is not its."""
    s = Session()
    life = vm_life(s, reclaim_fw=False)  # the firmware parcel leaks
    vm_life(s, dtb_handle=0x40, fw_handle=0x41, buf_handle=0x42, irq_handle=0x50)
    table = df_memparcels(s.messages())
    leaked = _row(table, 0x11)
    assert leaked["mapped_frames"] == (life.frames["init"].request,)
    assert _row(table, 0x41)["mapped_frames"] != () and len(leaked["mapped_frames"]) == 1


def test_irq_error_and_notify_paths():
    s = Session()
    s.call(HOST, "VM_IRQ_LEND", {"borrower_vmid": 0x80, "virq": 9, "label": 1}, {"virq_handle": 7})
    s.call(HOST, "VM_IRQ_NOTIFY", {"virq_handle": 7, "flags": 1, "vmids": [{"vmid": 0x80}]})
    s.call(0x80, "VM_IRQ_ACCEPT", {"virq_handle": 7, "virq": 33}, err=ERR["IRQ_INVALID"])
    acc = s.call(0x80, "VM_IRQ_ACCEPT", {"virq_handle": 7, "virq": 33}, {"virq": 33})
    rel = s.call(0x80, "VM_IRQ_RELEASE", {"virq_handle": 7})
    s.notify(HOST, "VM_IRQ_RELEASED", {"virq_handle": 7})
    row = df_irqs(s.messages()).iloc[0]
    assert row["errors"] == 1 and row["accept_frames"] == (acc.request,) and row["accepted_virq"] == 33
    assert row["release_frames"] == (rel.request,) and len(row["released_frames"]) == 1
    assert row["state"] == "released"


def test_messages_from_a_traces_columns_equal_the_decoded_ones(tmp_path):
    """The Trace feeds the ledgers from its fast-path columns: the same dicts as ``ghrm decode``."""
    trace = pytest.importorskip("dissector.trace")
    from dissector.analysis.ledgers import messages_from_columns, messages_from_decoded
    from dissector.decoded import decode_file

    path = vm_life(reclaim_fw=False).session.write(tmp_path / "life.pcapng")
    columns, _ = trace.load_capture(str(path), "life", engine="scapy")
    from_trace = messages_from_columns([columns])
    decoded = messages_from_decoded(decode_file(str(path)), capture="life")
    assert from_trace == decoded
    assert [m["msg_name"] for m in from_trace if m["msg_name"] == "VM_STATUS"] == []  # not a ledger message
