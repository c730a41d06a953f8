"""Every ledger finding: raised by a session that breaks one thing, and by no clean session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dissector.analysis.ledgers import FINDING_CODES, ledger_findings, merge_findings, messages_from_decoded
from dissector.analysis.schema import FINDINGS, concat
from dissector.decoded import decode_file
from tests.analysis.ledgers.ledger_sessions import HOST, MiB, Session, acl, sgl, vm_life

# knobs of ``vm_life`` -> the finding they must raise (and its severity)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("reclaim of a handle never created", {"reclaim_unknown": True}, "mem_unknown_handle", "warning"),
    ("double reclaim", {"double_reclaim": True}, "mem_stale_handle", "error"),
    ("release after reclaim", {"release_after_reclaim": True}, "mem_stale_handle", "error"),
    (
        "accept outside the ACL, refused",
        {"accept_vmid": 0x81, "accept_ok": False},
        "mem_accept_outside_acl",
        "warning",
    ),
    ("accept outside the ACL, allowed", {"accept_vmid": 0x81}, "mem_accept_outside_acl", "error"),
    ("firmware parcel kept past VM_DEALLOCATE", {"reclaim_fw": False}, "mem_leak", "error"),
    (
        "reset, no reclaim, capture ends",
        {"reclaim_fw": False, "deallocate": False},
        "mem_not_reclaimed_after_reset",
        "warning",
    ),
    ("shared buffer never accepted", {"guest_accepts_buffer": False}, "mem_never_accepted", "warning"),
    ("MEM_APPEND never ended", {"append_end": False}, "mem_append_unfinished", "warning"),
    (
        "live handle returned again",
        {"reclaim_dtb": False, "reuse_dtb_handle": True},
        "mem_handle_reused",
        "warning",
    ),
    ("VM_CONFIG_IMAGE names an unknown handle", {"config_handle": 0x99}, "config_unknown_handle", "error"),
    ("DTB parcel lent to another VM", {"dtb_acl_vmid": 0x81}, "config_not_lent", "error"),
    ("image beyond the parcel", {"image_size": 5 * MiB}, "config_image_out_of_range", "error"),
    (
        "DTB beyond the parcel",
        {"dtb_offset": 0x3F0000, "dtb_size": 0x20000},
        "config_dtb_out_of_range",
        "error",
    ),
    ("firmware beyond the parcel", {"fw_config_size": 2 * MiB}, "config_firmware_out_of_range", "error"),
    (
        "DTB without room for the overlay",
        {"dtb_offset": 4 * MiB - 0x10000, "dtb_size": 0x10000},
        "config_dtb_small",
        "note",
    ),
    ("firmware SGL entry ending past 2^64", {"fw_size": (1 << 64) - 0x1000}, "range_wraps", "error"),
    ("IRQ reclaim of a handle never lent", {"irq_reclaim_unknown": True}, "irq_unknown_handle", "warning"),
    ("IRQ double reclaim", {"irq_double_reclaim": True}, "irq_stale_handle", "error"),
    ("IRQ accepted by another VM", {"irq_accept_vmid": 0x81}, "irq_accept_not_borrower", "warning"),
    ("IRQ never accepted", {"irq_accepted": False}, "irq_never_accepted", "warning"),
    ("IRQ kept past VM_DEALLOCATE", {"reclaim_irq": False}, "irq_leak", "error"),
    (
        "IRQ kept after reset, capture ends",
        {"reclaim_irq": False, "deallocate": False},
        "irq_not_reclaimed_after_reset",
        "warning",
    ),
    ("GET_HYP_RESOURCES says 2 entries, holds 1", {"hyp_resources": (2, 1)}, "hyp_resources_size", "error"),
    ("GET_HYP_RESOURCES says 1 entry, holds 2", {"hyp_resources": (1, 2)}, "hyp_resources_size", "error"),
    (
        "MEM_ACCEPT reply maps more than the parcel",
        {"accept_reply_size": 2 * MiB},
        "mem_accept_reply_mismatch",
        "warning",
    ),
    (
        "VM_IRQ_ACCEPT reply with another virq",
        {"irq_accept_virq": 33},
        "irq_accept_reply_mismatch",
        "warning",
    ),
]


def findings_of(**knobs: Any) -> pd.DataFrame:
    return ledger_findings(vm_life(**knobs).messages())


def test_clean_sessions_raise_nothing():
    for knobs in ({}, {"append": False}, {"dtb_parcel_size": 2 * MiB, "dtb_offset": 0, "dtb_size": 2 * MiB}):
        found = findings_of(**knobs)
        assert found.empty, found["text"].tolist()


@pytest.mark.parametrize(("what", "knobs", "code", "severity"), CASES, ids=[c[0] for c in CASES])
def test_each_finding_has_a_trace(what: str, knobs: dict[str, Any], code: str, severity: str):
    found = findings_of(**knobs)
    FINDINGS.check(found)
    hits = found[found["code"] == code]
    assert len(hits) >= 1, f"{what}: no {code} in {found['code'].tolist()}"
    row = hits.iloc[0]
    assert row["severity"] == severity
    assert row["category"] == FINDING_CODES[code][1]
    assert row["frames"] and all(isinstance(f, int) for f in row["frames"])
    assert row["text"] and "frame" in row["text"]
    assert row["count"] == 1 and row["time"] == row["time"]


def test_every_code_has_a_case():
    covered = {code for *_, code, _ in CASES} | {"allocate_reply_mismatch"}
    assert covered == set(FINDING_CODES)


def test_dtb_out_of_range_text_names_frames_handle_and_sizes():
    """The review's question, answered: the DTB range against the parcel RM was given."""
    life = vm_life(dtb_handle=0x5, dtb_parcel_size=2 * MiB, dtb_offset=0x1F0000, dtb_size=0x20000)
    found = ledger_findings(life.messages())
    row = found[found["code"] == "config_dtb_out_of_range"].iloc[0]
    config, lend = life.frames["config"].request, life.frames["lend_dtb"].request
    assert row["text"].startswith(
        f"VM_CONFIG_IMAGE (frame {config}) for VM 0x80 puts the DTB at offset 0x1f0000 + size 0x20000"
    )
    assert "in parcel 0x5, which is only 0x200000 bytes (2 MiB) long" in row["text"]
    assert f"(MEM_LEND by VM 0x3, frame {lend})" in row["text"]
    assert row["vmid"] == 0x80 and row["name"] == "VM_CONFIG_IMAGE"
    assert config in row["frames"] and lend in row["frames"]
    # the image is not checked when Linux leaves it empty (image_offset = image_size = 0)
    assert "config_image_out_of_range" not in set(found["code"])


def test_double_reclaim_explains_handle_invalid():
    life = vm_life(double_reclaim=True)
    found = ledger_findings(life.messages())
    row = found[found["code"] == "mem_stale_handle"].iloc[0]
    first, second = life.frames["reclaim_dtb"], life.frames["reclaim_dtb2"]
    assert f"MEM_RECLAIM (frame {second.request}) from VM 0x3 names parcel 0x10" in row["text"]
    assert f"already reclaimed at frame {first.request}" in row["text"]
    assert "double free" in row["text"] and row["text"].endswith("RM answered HANDLE_INVALID")
    assert set(row["frames"]) == {first.request, second.request, second.reply}


def test_leak_names_the_parcel_and_the_deallocate():
    life = vm_life(reclaim_fw=False)
    found = ledger_findings(life.messages())
    row = found[found["code"] == "mem_leak"].iloc[0]
    assert f"VM 0x80 was deallocated at frame {life.frames['dealloc'].request}" in row["text"]
    assert "parcel 0x11 (MEM_LEND by VM 0x3" in row["text"] and "0x100000 bytes (1 MiB)" in row["text"]
    assert row["vmid"] == 0x80


def test_accept_outside_acl_text():
    life = vm_life(accept_vmid=0x81, accept_ok=False)
    row = ledger_findings(life.messages()).query("code == 'mem_accept_outside_acl'").iloc[0]
    assert "by VM 0x81 of parcel 0x12" in row["text"] and "ACL lists only VM 0x3, 0x80" in row["text"]
    assert "RM answered DENIED" in row["text"]


def test_allocate_reply_contradicts_request():
    s = Session()
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x21}, {"vmid": 0x22})
    found = ledger_findings(s.messages())
    assert list(found["code"]) == ["allocate_reply_mismatch"]
    assert "asked for VMID 0x21, but the reply names VMID 0x22" in found["text"].iloc[0]
    s = Session()
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0x21})  # the standard reply RM sends for a fixed VMID
    s.call(HOST, "VM_ALLOCATE", {"vmid": 0}, {"vmid": 0x80})
    assert ledger_findings(s.messages()).empty


def test_stale_config_and_accept_of_reclaimed_parcel():
    s = Session()
    s.call(HOST, "MEM_LEND", {"acl": acl((0x80, 7)), "sgl": sgl((0, 4 * MiB))}, {"mem_handle": 3})
    s.call(HOST, "MEM_RECLAIM", {"mem_handle": 3})
    s.call(
        HOST, "VM_CONFIG_IMAGE", {"vmid": 0x80, "mem_handle": 3, "dtb_offset": 0, "dtb_size": 2 * MiB}, err=7
    )
    s.call(0x80, "MEM_ACCEPT", {"mem_handle": 3, "trans_type": 1, "flags": 0x80}, err=7)
    found = ledger_findings(s.messages())
    assert set(found["code"]) == {"config_unknown_handle", "mem_stale_handle"}
    text = found.set_index("code").loc["config_unknown_handle", "text"]
    assert "names parcel 0x3, which was reclaimed at frame 3" in text


def test_unanswered_create_hint_on_unknown_handle():
    s = Session()
    s.call(HOST, "MEM_LEND", {"acl": acl((0x80, 7)), "sgl": sgl((0, MiB))}, answered=False)
    s.call(HOST, "MEM_RECLAIM", {"mem_handle": 0x1000}, err=7)
    text = ledger_findings(s.messages())["text"].iloc[0]
    assert "MEM_LEND at frame 1 got no reply: its handle may be this one" in text


def test_never_accepted_waits_for_the_end_of_the_capture():
    """An IRQ lent just before the capture ends may still be accepted: no finding yet. The end
    of the capture is its last message, whatever it is (here a VM_STATUS)."""
    s = Session()
    s.call(HOST, "VM_IRQ_LEND", {"borrower_vmid": 0x80, "virq": 9, "label": 1}, {"virq_handle": 7})
    s.call(HOST, "VM_IRQ_NOTIFY", {"virq_handle": 7, "flags": 1, "vmids": [{"vmid": 0x80}]})
    assert ledger_findings(messages_from_decoded(s.decoded())).empty
    s.wait(5.0)
    s.notify(HOST, "VM_STATUS", {"vmid": 0x80, "vm_status": 3})
    messages = messages_from_decoded(s.decoded())
    assert messages[-1]["msg_name"] == "VM_STATUS"  # kept: it says when the capture ends
    found = ledger_findings(messages)
    assert list(found["code"]) == ["irq_never_accepted"]
    assert "still had not accepted it 5.000 s later" in found["text"].iloc[0]


def test_findings_concatenate_with_the_analysis_findings():
    a = findings_of(double_reclaim=True)
    b = findings_of(reclaim_fw=False, guest_accepts_buffer=False)
    both = concat([a, b], FINDINGS)
    FINDINGS.check(both)
    assert len(both) == len(a) + len(b)
    merged = merge_findings([b, a])
    FINDINGS.check(merged)
    severities = list(FINDINGS.column("severity").categories)
    assert list(merged["severity"]) == sorted(merged["severity"], key=severities.index)
    assert list(b["severity"]) == sorted(b["severity"], key=severities.index)


def test_end_to_end_from_a_pcapng(tmp_path: Path):
    life = vm_life(reclaim_fw=False, dtb_offset=0x3F0000, dtb_size=0x20000)
    path = life.session.write(tmp_path / "leak.pcapng")
    messages = messages_from_decoded(decode_file(str(path)), capture=str(path))
    found = ledger_findings(messages)
    assert {"mem_leak", "config_dtb_out_of_range"} <= set(found["code"])
    assert set(found["capture"].astype(str)) == {str(path)}


def test_reclaim_after_deallocate_is_a_milder_leak():
    s = Session()
    s.call(HOST, "MEM_LEND", {"acl": acl((0x80, 7)), "sgl": sgl((0, MiB))}, {"mem_handle": 4})
    gone = s.call(HOST, "VM_DEALLOCATE", {"vmid": 0x80})
    late = s.call(HOST, "MEM_RECLAIM", {"mem_handle": 4})
    row = ledger_findings(s.messages()).iloc[0]
    assert row["code"] == "mem_leak" and row["severity"] == "warning"
    assert f"deallocated at frame {gone.request}" in row["text"]
    assert f"reclaimed it only at frame {late.request}, after the VM was gone" in row["text"]
