"""The ledger tables' columns, declared once (name, dtype, meaning), and the findings shape.

Why declared here with the analysis ``Schema``: a ledger is joined with the other analysis
tables (``vmid``, ``capture``, frames) and concatenated across captures, so it follows the
same conventions (see ``dissector.analysis.schema``): times are float seconds, NaN when
unknown; integers that can be unknown are pandas nullable (``Int64``, ``Int32``); names are
categorical; lists of frames, VMIDs or SGL entries are Python tuples in an ``object`` column.
Ledger findings use the analysis ``FINDINGS`` schema itself, so ``pd.concat`` or
``dissector.analysis.schema.concat`` joins them with the other findings.
"""

from __future__ import annotations

from dissector.analysis.schema import CAPTURE, FINDINGS, SEVERITIES, Column, Schema, concat

# Final states, in the order a parcel or IRQ goes through them (protocol.md 4.6, 4.9, 5).
PARCEL_STATES = (
    "no_reply",
    "appending",
    "created",
    "notified",
    "mapped",
    "accepted",
    "released",
    "reclaimed",
)
IRQ_STATES = ("no_reply", "lent", "notified", "accepted", "released", "reclaimed")
# Where a row's handle came from.
HANDLE_SOURCES = ("reply", "no_reply", "inferred", "unseen")
TRANS_TYPES = ("DONATE", "LEND", "SHARE")  # RM trans_type names, protocol.md 6.8

_SOURCE_DOC = (
    "reply: the create/lend reply carried it; no_reply: the call got no reply (handle NA); "
    "inferred: taken from the first successful use of an unknown handle after such a call; "
    "unseen: created before the capture (first seen in a later call or notification)"
)

HANDLE_SOURCE = Column("handle_source", "category", _SOURCE_DOC, HANDLE_SOURCES)
RECLAIMED_TIME = Column(
    "reclaimed_time", "float64", "seconds of that request; NaN if never reclaimed", instant=True
)


def _instance(item: str) -> Column:
    return Column("instance", "int32", f"1, 2, ...: the n-th {item} with this handle in the capture")


def _last_frame(item: str) -> Column:
    return Column("last_frame", "int64", f"last frame that concerned the {item}")


def _state(item: str, states: tuple[str, ...]) -> Column:
    doc = f"last step the {item} went through: " + ", ".join(states)
    return Column("state", "category", doc, states, ordered=True)


def _errors(item: str) -> Column:
    return Column("errors", "int32", f"error replies to calls naming the {item}")


MEMPARCELS = Schema(
    "memparcels",
    "one row per memory parcel (MEM_LEND/SHARE/DONATE -> handle -> APPEND -> NOTIFY -> ACCEPT -> "
    "RELEASE -> RECLAIM, protocol.md 4.9 and 5); a handle created again after its reclaim is a new row",
    (
        Column("capture", "category", "capture the parcel lives in (handles are per RM, so per capture)"),
        Column("handle", "Int64", "mem_handle RM returned; NA if the create call got no reply"),
        _instance("parcel"),
        HANDLE_SOURCE,
        Column(
            "owner_vmid", "Int32", "client that created the parcel (the lender); NA if unseen and unknown"
        ),
        Column("vmid", "Int32", "first borrower (ACL VMID other than the owner): the VM the parcel is for"),
        Column("borrowers", "object", "tuple of every ACL VMID other than the owner"),
        Column("trans_type", "category", "DONATE, LEND or SHARE (which create call)", TRANS_TYPES),
        Column("mem_type", "category", "NORMAL or IO (protocol.md 6.8)"),
        Column("label", "Int64", "client-chosen label of the parcel"),
        Column("flags", "Int16", "create flags: 0x1 SANITIZE, 0x2 APPEND (more SGL follows)"),
        Column("acl", "object", "tuple of (vmid, rights) pairs; rights X=0x1, W=0x2, R=0x4"),
        Column("acl_text", "str", "the ACL for people, e.g. '0x3:RW 0x80:RWX'"),
        Column("sgl_entries", "int32", "SGL entries, MEM_APPEND included"),
        Column("size", "Int64", "total bytes of all SGL entries (NA if never seen, e.g. unseen parcels)"),
        Column("sgl", "object", "tuple of the owner's (ipa_base, size) entries, MEM_APPEND included"),
        Column(
            "complete", "bool", "no MEM_APPEND outstanding (created without APPEND, or an END append seen)"
        ),
        Column("created_frame", "Int64", "frame of the create request (NA for unseen parcels)"),
        Column("handle_frame", "Int64", "frame of the reply that returned the handle"),
        Column(
            "created_time",
            "float64",
            "seconds: the create request (or first sighting for unseen parcels)",
            instant=True,
        ),
        Column("append_frames", "object", "tuple of MEM_APPEND request frames that took effect"),
        Column("notify_frames", "object", "tuple of MEM_NOTIFY request frames naming the parcel (any flag)"),
        Column("shared_frames", "object", "tuple of MEM_SHARED notification frames"),
        Column(
            "shared_with",
            "object",
            "tuple of VMIDs told about the parcel (MEM_NOTIFY SHARED list, MEM_SHARED)",
        ),
        Column(
            "accepted_by",
            "object",
            "tuple of VMIDs that accepted it (MEM_ACCEPT, MEM_ACCEPTED, VM_INIT mapping), in order",
        ),
        Column(
            "accept_ipas",
            "object",
            "tuple of (vmid, ipa_base) per acceptor: IPA from the request SGL or "
            "RM's reply SGL; None when neither was seen",
        ),
        Column("accept_frames", "object", "tuple of MEM_ACCEPT request frames that took effect"),
        Column(
            "mapped_frames",
            "object",
            "tuple of VM_INIT request frames at which RM mapped the parcel into the VM it is lent to",
        ),
        Column("accepted_frames", "object", "tuple of MEM_ACCEPTED notification frames"),
        Column("released_by", "object", "tuple of VMIDs that released it (MEM_RELEASE, MEM_RELEASED)"),
        Column("release_frames", "object", "tuple of MEM_RELEASE request frames that took effect"),
        Column("released_frames", "object", "tuple of MEM_RELEASED notification frames"),
        Column("recall_frames", "object", "tuple of MEM_RECALL notification frames"),
        Column(
            "used_by",
            "str",
            "what VM_CONFIG_IMAGE / VM_SET_FIRMWARE_MEM put in it: only the ranges they name, e.g. "
            "'VM 0x80 DTB: 20.25 KiB at +0x1fe00000'",
        ),
        Column(
            "config_frames",
            "object",
            "tuple of VM_CONFIG_IMAGE / VM_SET_FIRMWARE_MEM request frames naming it",
        ),
        Column("reclaimed_frame", "Int64", "frame of the MEM_RECLAIM request that ended the parcel"),
        RECLAIMED_TIME,
        Column(
            "first_frame",
            "int64",
            "first frame that concerned the parcel (the create request, or the "
            "first sighting of an unseen parcel)",
        ),
        _last_frame("parcel"),
        _state("parcel", PARCEL_STATES),
        _errors("parcel"),
        Column(
            "failed_calls", "str", "those calls and calls without reply, e.g. 'MEM_RECLAIM MEM_INUSE @41'"
        ),
    ),
)

IRQS = Schema(
    "irqs",
    "one row per lent IRQ (VM_IRQ_LEND -> handle -> NOTIFY(LENT) -> ACCEPT -> RELEASE -> RECLAIM, "
    "with VM_IRQ_LENT/ACCEPTED/RELEASED, protocol.md 4.6 and 5); a handle lent again after its "
    "reclaim is a new row",
    (
        CAPTURE,
        Column("handle", "Int64", "virq_handle RM returned; NA if VM_IRQ_LEND got no reply"),
        _instance("IRQ"),
        HANDLE_SOURCE,
        Column("owner_vmid", "Int32", "client that lent the IRQ"),
        Column("vmid", "Int32", "borrower VM"),
        Column("virq", "Int64", "the owner's IRQ number"),
        Column("label", "Int64", "label identifying the IRQ to the borrower"),
        Column("lent_frame", "Int64", "frame of the VM_IRQ_LEND request"),
        Column("handle_frame", "Int64", "frame of its reply"),
        Column(
            "lent_time",
            "float64",
            "seconds of the lend request (first sighting for unseen IRQs)",
            instant=True,
        ),
        Column("notify_frames", "object", "tuple of VM_IRQ_NOTIFY request frames naming it (any flag)"),
        Column("lent_frames", "object", "tuple of VM_IRQ_LENT notification frames"),
        Column("accepted_by", "Int32", "VM that accepted it (VM_IRQ_ACCEPT, else VM_IRQ_ACCEPTED)"),
        Column("accepted_virq", "Int64", "IRQ number in the borrower (accept reply, else the requested one)"),
        Column("accept_frames", "object", "tuple of VM_IRQ_ACCEPT request frames that took effect"),
        Column("accepted_frames", "object", "tuple of VM_IRQ_ACCEPTED notification frames"),
        Column("release_frames", "object", "tuple of VM_IRQ_RELEASE request frames that took effect"),
        Column("released_frames", "object", "tuple of VM_IRQ_RELEASED notification frames"),
        Column("reclaimed_frame", "Int64", "frame of the VM_IRQ_RECLAIM request that ended it"),
        RECLAIMED_TIME,
        Column("first_frame", "int64", "first frame that concerned the IRQ (lend request or first sighting)"),
        _last_frame("IRQ"),
        _state("IRQ", IRQ_STATES),
        _errors("IRQ"),
        Column("failed_calls", "str", "those calls and calls without reply"),
    ),
)

LEDGER_TABLES: dict[str, Schema] = {s.name: s for s in (MEMPARCELS, IRQS)}

# Every ledger finding: code -> (severity, category, what it means). Severity is the usual one;
# a few codes are milder when RM itself refused the call (said in ``FINDING_CODES`` docs).
FINDING_CODES: dict[str, tuple[str, str, str]] = {
    "mem_unknown_handle": (
        "warning",
        "memory",
        "a MEM_* call names a handle no create returned in the capture",
    ),
    "mem_stale_handle": (
        "error",
        "memory",
        "a MEM_* call names a handle already reclaimed (double reclaim ...)",
    ),
    "mem_accept_outside_acl": (
        "error",
        "memory",
        "MEM_ACCEPT by a VM not in the parcel's ACL (warning when RM refused it)",
    ),
    "mem_leak": (
        "error",
        "memory",
        "VM deallocated while a parcel lent/shared to it was not reclaimed (warning if reclaimed later)",
    ),
    "mem_not_reclaimed_after_reset": (
        "warning",
        "memory",
        "VM reset, and a parcel lent/shared to it still not reclaimed when the capture ends",
    ),
    "mem_never_accepted": ("warning", "memory", "parcel notified (SHARED) to a VM that never accepted it"),
    "mem_append_unfinished": (
        "warning",
        "memory",
        "parcel created with APPEND and never given an END append",
    ),
    "mem_handle_reused": ("warning", "memory", "a create returned a handle whose parcel was never reclaimed"),
    "config_unknown_handle": (
        "error",
        "config",
        "VM_CONFIG_IMAGE / VM_SET_FIRMWARE_MEM names a handle never created or already reclaimed",
    ),
    "config_not_lent": (
        "error",
        "config",
        "VM_CONFIG_IMAGE / VM_SET_FIRMWARE_MEM parcel not lent to that VM",
    ),
    "config_image_out_of_range": ("error", "config", "image offset + size beyond the parcel's total size"),
    "config_dtb_out_of_range": ("error", "config", "DTB offset + size beyond the parcel's total size"),
    "config_firmware_out_of_range": (
        "error",
        "config",
        "firmware offset + size beyond the parcel's total size",
    ),
    "range_wraps": (
        "error",
        "memory",
        "a 64-bit range (SGL entry ipa_base + size, a parcel's total size, a config offset + size) "
        "passes 2^64: RM's unsigned arithmetic would wrap",
    ),
    "config_dtb_small": (
        "note",
        "config",
        "room for the DTB and RM's overlay (dtb_size, or DTB start to parcel end) under the 2 MiB of hosts",
    ),
    "irq_unknown_handle": ("warning", "irq", "a VM_IRQ_* call names a handle no VM_IRQ_LEND returned"),
    "irq_stale_handle": ("error", "irq", "a VM_IRQ_* call names a handle already reclaimed"),
    "irq_accept_not_borrower": (
        "error",
        "irq",
        "VM_IRQ_ACCEPT by a VM other than the borrower (warning when RM refused it)",
    ),
    "irq_never_accepted": ("warning", "irq", "IRQ lent and never accepted by its borrower"),
    "irq_leak": (
        "error",
        "irq",
        "borrower deallocated while the IRQ lent to it was not reclaimed (warning if reclaimed later)",
    ),
    "irq_not_reclaimed_after_reset": (
        "warning",
        "irq",
        "borrower reset, and the IRQ lent to it still not reclaimed when the capture ends",
    ),
    "hyp_resources_size": (
        "error",
        "response",
        "VM_GET_HYP_RESOURCES reply whose n_entries does not match its length (Linux rejects it)",
    ),
    "mem_accept_reply_mismatch": (
        "warning",
        "response",
        "MEM_ACCEPT reply SGL contradicts the request or parcel",
    ),
    "irq_accept_reply_mismatch": (
        "warning",
        "response",
        "VM_IRQ_ACCEPT reply virq differs from the one asked for",
    ),
    "allocate_reply_mismatch": (
        "warning",
        "response",
        "VM_ALLOCATE reply VMID contradicts the requested VMID",
    ),
}
assert all(sev in SEVERITIES for sev, _, _ in FINDING_CODES.values())

__all__ = [
    "FINDINGS",
    "FINDING_CODES",
    "HANDLE_SOURCES",
    "IRQS",
    "IRQ_STATES",
    "LEDGER_TABLES",
    "MEMPARCELS",
    "PARCEL_STATES",
    "SEVERITIES",
    "TRANS_TYPES",
    "concat",
]
