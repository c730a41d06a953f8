"""Known answers for issue 15 (the wire audit), as bytes written out by hand from protocol.md.

Nothing here uses ghrm's encoder: every message is spelled byte for byte (RPC header, error
code, payload) and put in a classic microsecond pcap by ``tests.capture.capbytes``. Each
``Case`` says what ghrm's jsonl ``fields``/names must be, and which names the ``-V`` tree (and
tshark with the generated plugin) must print, per dialect. Shared by the ghrm tests
(``tests/e2e/test_wire_fidelity.py``) and the tshark ones
(``tests/wireshark/test_tshark_wire_fidelity.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.capture.capbytes import cap, pcap_file

T0 = 1_700_000_000  # seconds
DIALECTS = ("rm", "linux-v16", "linux-v17", "qcom", "rm-2021", "haven-early")
ALL = DIALECTS


def h(text: str) -> bytes:
    """Hex with spaces, as protocol.md writes messages."""
    return bytes.fromhex(text.replace(" ", ""))


@dataclass(frozen=True)
class Case:
    """One message: its bytes, and per dialect what ghrm and tshark must show."""

    name: str
    direction: int  # capture header: 1 to the RM, 2 from the RM
    message: bytes
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # dialect -> jsonl fields
    msg_name: dict[str, str] = field(default_factory=dict)  # dialect -> msg_name
    err_name: dict[str, str] = field(default_factory=dict)  # dialect -> err_name
    tree: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dialect -> "-V" tree lines
    not_in_tree: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dialect -> absent text
    malformed: bool = False


SGL_ONE = "00 00 00 80 00 00 00 00  00 10 00 00 00 00 00 00"  # ipa_base 0x80000000, size 0x1000
HYP_RES_28 = (  # type 6 (VIRTIO_MMIO in RM HEAD), 28-byte entry (RM-2021 / HAVEN)
    "06 00 45 00  01 00 00 00  02 00 00 00  03 00 00 00 00 00 00 00  04 00 00 00  05 00 00 00"
)

CASES: tuple[Case, ...] = (
    # 1. VM_GET_VMID reply: u32 vmid (0x00010046, not 0x46)
    Case(
        "get_vmid_u32",
        2,
        h("21 02 05 00 24 00 00 56  00 00 00 00  46 00 01 00"),
        fields={d: {"vmid": 0x10046} for d in ALL},
        tree={d: ("vmid      = 0x10046",) for d in ALL},
    ),
    # 2. VM_IRQ_LENT, early HAVEN's 10-byte packed form: decoded in every dialect
    Case(
        "irq_lent_10_packed",
        2,
        h("21 03 07 00 11 00 10 56  03 00  07 00 00 00  01 10 00 00"),
        fields={d: {"owner_vmid": 3, "virq_handle": 7, "virq_label": 0x1001} for d in ALL},
        msg_name={d: "VM_IRQ_LENT" for d in ALL},
        tree={d: ("virq_label= 0x1001",) for d in ALL},
    ),
    # 3. MEM_LEND that ends after its ACL: the SGL list header would start at the end -> empty
    Case(
        "mem_lend_ends_after_acl",
        1,
        h("21 01 09 00 12 00 00 51  00 00 00 00  10 00 00 00  01 00 00 00  80 00 06 00"),
        fields={
            d: {
                "mem_type": 0,
                "flags": 0,
                "label": 0x10,
                "n_acl_entries": 1,
                "acl": [{"vmid": 0x80, "perms": 6}],
            }
            for d in ALL
        },
    ),
    # 4. byte arrays kept exactly: NUL, 0xff, backslash, newline
    Case(
        "console_write_bytes",
        1,
        h("21 01 0a 00 83 00 00 56  80 00 06 00  68 69 00 ff 5c 0a"),
        fields={
            d: {"vmid": 0x80, "num_bytes": 6, "data": "686900ff5c0a", "data_text": "hi\\x00\\xff\\\\\\n"}
            for d in ALL
        },
    ),
    Case(
        "set_crash_msg_bytes",
        1,
        h("21 01 0b 00 86 00 00 56  05 00 00 00  62 00 6f 6f 6d 00 00 00"),
        fields={d: {"msg_len": 5, "msg": "62006f6f6d", "msg_text": "b\\x00oom"} for d in ALL},
    ),
    Case(
        "console_chars_bytes",
        2,
        h("21 03 0c 00 80 00 10 56  80 00 03 00  00 41 42"),
        fields={d: {"vmid": 0x80, "num_bytes": 3, "bytes": "004142", "bytes_text": "\\x00AB"} for d in ALL},
    ),
    # 5. VM_SET_DEMAND_PAGING ranges are {base, size}
    Case(
        "demand_paging_base",
        1,
        h("21 01 0d 00 33 00 00 56  80 00 00 00  01 00 00 00") + h(SGL_ONE),
        fields={
            d: {"vmid": 0x80, "range_count": 1, "ranges": [{"base": 0x80000000, "size": 0x1000}]} for d in ALL
        },
    ),
    # 6. VM_STATUS vm_status 5: LOAD (RM HEAD), SHUTDOWN (RM-2021), CRASHED (early HAVEN)
    Case(
        "vm_status_5",
        2,
        h("21 03 10 00 08 00 10 56  80 00 00 00  05 05 01 00"),
        fields={d: {"vmid": 0x80, "vm_status": 5, "os_status": 5, "app_status": 1} for d in ALL},
        tree={
            "rm": ("vm_status = LOAD (5)", "os_status = SHUTDOWN (5)", "app_status= 1"),
            "linux-v17": ("vm_status = LOAD (5)",),
            "rm-2021": ("vm_status = SHUTDOWN (5)",),
            # 9. os_status 5-7 do not exist in early HAVEN
            "haven-early": ("vm_status = CRASHED (5)", "os_status = UNKNOWN_0x5 (5)"),
            # 11. app_status is opaque unless the dialect names it (qcom)
            "qcom": ("app_status= TUI_SERVICE_BOOT (1)",),
        },
        not_in_tree={d: ("TUI_SERVICE_BOOT",) for d in ALL if d != "qcom"},
    ),
    # 6. 0x5600000C is VM_SET_BOOT_CONTEXT in linux-v16 only
    Case(
        "boot_context_v16",
        1,
        h("21 01 04 00 0c 00 00 56  80 00 01 00  00 00 00 00  00 00 00 80 00 00 00 00"),
        msg_name={
            **{d: "VM_SET_BOOT_CONTEXT_V16" for d in ALL},
            "linux-v16": "VM_SET_BOOT_CONTEXT",
        },
        tree={
            "linux-v16": ("VM_SET_BOOT_CONTEXT (0x5600000c)", "reg_set   = PC (1)"),
            "rm": ("VM_SET_BOOT_CONTEXT_V16 (0x5600000c)",),
        },
    ),
    # 10. 0x56000031: VM_SET_CONTEXT (RM's name) unless the dialect is linux-v17
    Case(
        "set_context_31",
        1,
        h("21 01 06 00 31 00 00 56  80 00 00 00  00 00 00 00  00 10 00 00 00 00 00 00"),
        msg_name={**{d: "VM_SET_CONTEXT" for d in ALL}, "linux-v17": "VM_SET_BOOT_CONTEXT"},
        tree={"rm": ("VM_SET_CONTEXT (0x56000031)",), "linux-v17": ("VM_SET_BOOT_CONTEXT (0x56000031)",)},
    ),
    # 7. MEM_ACCEPT reply byte 2: flags (RM HEAD, QC) or reserved (RM-2021, HAVEN)
    Case(
        "mem_accept_reply",
        2,
        h("21 02 0e 00 11 00 00 51  00 00 00 00  01 00 01 00") + h(SGL_ONE),
        fields={
            **{
                d: {"n_sgl_entries": 1, "flags": 1, "sgl": [{"ipa_base": 0x80000000, "size": 0x1000}]}
                for d in ALL
            },
            **{
                d: {"n_sgl_entries": 1, "reserved": 1, "sgl": [{"ipa_base": 0x80000000, "size": 0x1000}]}
                for d in ("rm-2021", "haven-early")
            },
        },
        tree={"rm": ("flags     = INCOMPLETE (0x1)",), "rm-2021": ("reserved  = 0x1",)},
        not_in_tree={"rm-2021": ("INCOMPLETE",), "haven-early": ("INCOMPLETE",)},
    ),
    # 8. error 0x14 VM_STATE first appears in the 2023 RM
    Case(
        "error_0x14",
        2,
        h("21 02 0f 00 04 00 00 56  14 00 00 00"),
        err_name={
            **{d: "VM_STATE" for d in ALL},
            "rm-2021": "UNKNOWN_0x14",
            "haven-early": "UNKNOWN_0x14",
        },
        tree={"rm": ("err_code  = VM_STATE (0x14)",), "rm-2021": ("err_code  = UNKNOWN_0x14 (0x14)",)},
    ),
    # 9. VM status 12 RESET_FAILED is Qualcomm's
    Case(
        "vm_status_12",
        2,
        h("21 03 11 00 08 00 10 56  81 00 00 00  0c 00 00 00"),
        tree={"qcom": ("vm_status = RESET_FAILED (12)",), "rm": ("vm_status = UNKNOWN_0xc (12)",)},
    ),
    # 9. resource type 6 has no name in RM-2021 (0-5) or early HAVEN (0-3); 11. reserved field
    Case(
        "hyp_resource_28",
        2,
        h("21 02 12 00 20 00 00 56  00 00 00 00  01 00 00 00") + h(HYP_RES_28),
        tree={
            "rm": ("type      = VIRTIO_MMIO (6)", "reserved  = 0x0"),
            "rm-2021": ("type      = UNKNOWN_0x6 (6)",),
            "haven-early": ("type      = UNKNOWN_0x6 (6)",),
        },
    ),
    # 10. Qualcomm exit codes: 2 is BUS_ERR there, UNKNOWN_ERROR in RM
    Case(
        "vm_exit_code_2",
        1,
        h("21 01 13 00 85 00 00 56  00 00 02 00"),
        tree={"qcom": ("exit_code = BUS_ERR (2)",), "rm": ("exit_code = UNKNOWN_ERROR (2)",)},
    ),
    # 11. Linux names: VM_ALLOC_VMID, NO_STATE, QCOM_PIL_ELF, the VM_STATUS "reserved" field
    Case(
        "alloc_vmid",
        1,
        h("21 01 14 00 01 00 00 56  00 00 00 00"),
        msg_name={
            **{d: "VM_ALLOCATE" for d in ALL},
            "linux-v16": "VM_ALLOC_VMID",
            "linux-v17": "VM_ALLOC_VMID",
        },
    ),
    Case(
        "vm_status_0_reserved",
        2,
        h("21 03 15 00 08 00 10 56  80 00 07 00  00 00 00 00"),
        fields={
            d: {"vmid": 0x80, "reserved": 7, "vm_status": 0, "os_status": 0, "app_status": 0} for d in ALL
        },
        tree={
            "linux-v16": ("vm_status = NO_STATE (0)", "reserved  = 0x7"),
            "linux-v17": ("vm_status = NO_STATE (0)",),
            "rm": ("vm_status = NONE (0)",),
        },
    ),
    Case(
        "config_image_auth",
        1,
        h("21 01 16 00 09 00 00 56  80 00 01 00  34 12 00 00")
        + bytes(16)
        + h("00 10 00 00 00 00 00 00  00 20 00 00 00 00 00 00"),
        tree={"linux-v17": ("auth_mech = QCOM_PIL_ELF (1)",), "rm": ("auth_mech = PLATFORM (1)",)},
    ),
)


def capture_bytes() -> bytes:
    """Every case as one record of a microsecond pcap, 2 ms apart, from T0 + 0.002000 s."""
    return pcap_file([(T0, 2000 * (i + 1), cap(c.message, c.direction, 0x45)) for i, c in enumerate(CASES)])


def frame_of(name: str) -> int:
    return 1 + [c.name for c in CASES].index(name)
