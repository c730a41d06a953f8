"""Miscellaneous calls (protocol.md 4.11).

GET_LOG uses the QC-new driver's names (``rsc_mgr_rpc.c``: ``gunyah_rm_get_log_req``,
``gunyah_rm_get_log_resp``). GET_IDENT, GET_FEATURES and GET_LOG_ADDRESS are ids without a
known payload and decode as raw bytes.
"""

from __future__ import annotations

from dissector.protocol.layout import U16, U64, Layout, Pad, Struct

GET_LOG_REQ = Struct(
    "GetLogReq",
    (U16("log_id"), Pad("padding", 2)),
    doc="QC-new gunyah_rm_get_log_req {le16 log_id; le16 padding}.",
    summary=("log_id",),
)

GET_LOG_REPLY = Struct(
    "GetLogReply",
    (U64("addr"), U64("size")),
    doc="QC-new gunyah_rm_get_log_resp {le64 addr; le64 size}.",
    summary=("addr", "size"),
)

LAYOUTS: dict[str, Layout] = {
    "GET_IDENT": Layout(known=False, note="HAVEN/QC define the id only; no payload definition found"),
    "GET_FEATURES": Layout(known=False, note="HAVEN/QC define the id only; no payload definition found"),
    "GET_LOG": Layout(request=GET_LOG_REQ, reply=GET_LOG_REPLY),
    "GET_LOG_ADDRESS": Layout(known=False, note="defined in L-v15 08/30 only, never used; no layout found"),
}
