"""Firmware calls of the RM (protocol.md 4.10; RM since RM-2023a, no Linux or QC client).

Linux has neither message, so the field names are the RM's (``fw_set_vm_firmware_req_t``,
``vm_firmware_handle_milestone``).
"""

from __future__ import annotations

from dissector.protocol.layout import EMPTY, U16, U32, U64, Layout, Pad, Struct

FW_SET_VM_FIRMWARE_REQ = Struct(
    "FwSetVmFirmwareReq",
    (
        U16("auth_type", "auth_mech"),
        Pad("res0", 2, doc="non-zero: RM replies UNIMPLEMENTED"),
        U32("image_mp_handle", hex=True, doc="memparcel holding the firmware image"),
        U64("image_offset", doc="must be 0"),
        U64("image_size"),
    ),
    doc="RM fw_set_vm_firmware_req_t {u16 auth_type; u16 res0; u32 image_mp_handle; "
    "u64 image_offset; u64 image_size} (24 bytes).",
    summary=("auth_type", "image_mp_handle", "image_size"),
)

LAYOUTS: dict[str, Layout] = {
    # HLOS only: after it, firmware loading is disabled (RM vm_firmware_handle_milestone).
    "FW_MILESTONE": Layout(request=EMPTY),
    "FW_SET_VM_FIRMWARE": Layout(request=FW_SET_VM_FIRMWARE_REQ),
}
