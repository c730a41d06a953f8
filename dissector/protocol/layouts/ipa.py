"""IPA reservation (protocol.md 4.8).

Names are the RM's (``include/vm_ipa_message.h``: ``ipa_reserve_req_t``,
``ipa_reserve_req_fixed_list_t``, ``ipa_reserve_req_alloc_list_t``, ``ipa_reserve_alloc_resp_t``);
Qualcomm's ``gh_ipa_reserve_payload`` is the same bytes with one ALLOC_LIST range. The count is
read as an RM list header (u16 count; u16 reserved), which QC's u32 ``nr_ranges`` also fits.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    U8,
    U32,
    U64,
    Array,
    Count,
    Layout,
    Optional,
    Pad,
    Struct,
)

FIXED_LIST_ENTRY = Struct(
    "IpaFixedListEntry",
    (U64("base"), U64("size")),
    doc="RM ipa_reserve_req_fixed_list_t {u64 base; u64 size}.",
)

ALLOC_LIST_ENTRY = Struct(
    "IpaAllocListEntry",
    (U64("region_base"), U64("region_size"), U64("size"), U64("alignment")),
    doc="RM ipa_reserve_req_alloc_list_t {u64 region_base; u64 region_size; u64 size; u64 alignment}.",
)

IPA_RESERVE_REQ = Struct(
    "IpaReserveReq",
    (
        U8("alloc_type", "ipa_alloc_type"),
        Pad("res0_0", 1),
        Pad("res0_1", 2),
        U32("generic_constraints", "ipa_generic_constraints", hex=True),
        U32("platform_constraints", "ipa_platform_constraints", hex=True),
        Optional(
            (
                Count("n_entries", 2, of="entries"),
                Pad("_entries_reserved", 2),
                Array("entries", FIXED_LIST_ENTRY, count="n_entries", alternatives=(ALLOC_LIST_ENTRY,)),
            ),
            doc="an RM list: empty when the buffer ends where its header would start",
            emit="always",
        ),
    ),
    doc="RM ipa_reserve_req_t {u8 alloc_type; u8 res0_0; u16 res0_1; u32 generic_constraints; "
    "u32 platform_constraints; entries} then FIXED_LIST (16 B) or ALLOC_LIST (32 B) entries; "
    "RM max 30 entries. The entry type is the one whose size makes n_entries entries fill the "
    "request exactly (alloc_type says the same for a well-formed request).",
    summary=("alloc_type", "n_entries"),
)

IPA_ENTRY = Struct("IpaReservedEntry", (U64("ipa"),), doc="u64 ipa of one reserved range.")

IPA_RESERVE_REPLY = Struct(
    "IpaReserveReply",
    (
        Optional(
            (Count("n_entries", 4, of="entries"), Array("entries", IPA_ENTRY, count="n_entries")),
            doc="ALLOC_LIST only; FIXED_LIST gets a standard reply",
        ),
    ),
    doc="RM ipa_reserve_alloc_resp_t {u32 reserved_entires} then u64 ipa[n] (QC "
    "gh_ipa_reserve_resp_payload {u32 n_entries; u64 ipa}); ipa[0] is not 8-byte aligned.",
    summary=("n_entries",),
)

LAYOUTS: dict[str, Layout] = {
    "IPA_RESERVE": Layout(request=IPA_RESERVE_REQ, reply=IPA_RESERVE_REPLY),
    "IPA_UNRESERVE": Layout(known=False, note="RM defines the id but does not handle it; no layout found"),
}
