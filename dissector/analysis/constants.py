"""The analysis rules other implementations must follow, as plain data (no pandas, no numpy).

Why a module of its own: the Wireshark plugin (``dissector.wireshark.lua``) re-implements the
pairing, the generated ``vm`` field and the lifecycle rebuild in Lua, generated from these
values; reading them here keeps ``ghrm wireshark lua`` free of pandas and leaves one place to
change them. ``transactions``, ``context`` and ``lifecycles`` import them from here.
"""

from __future__ import annotations

# --- pairing (dissector.analysis.transactions) ------------------------------------------------
GIVE_UP_NS = 500_000_000  # a request open this long when its key comes back is taken as lost
REUSE_WINDOW = 1024  # requests of one client: a key seen again sooner is a reuse, later a wrap
RESTART_SEQ = 64  # a client whose request seq falls back below this has restarted its count

# --- rule 1 of the generated `vm` field (dissector.analysis.context) ---------------------------
MEMORY_CREATE = ("MEM_LEND", "MEM_SHARE", "MEM_DONATE")  # concern the first ACL VMID not the caller
MEMORY_HANDLE_CALLS = ("MEM_APPEND", "MEM_ACCEPT", "MEM_RELEASE", "MEM_RECLAIM", "MEM_NOTIFY")
IRQ_HANDLE_CALLS = ("VM_IRQ_ACCEPT", "VM_IRQ_RELEASE", "VM_IRQ_RECLAIM", "VM_IRQ_NOTIFY")
IRQ_LEND = "VM_IRQ_LEND"  # concerns its borrower when that is a VMID (> 0), else rule 3/4
IRQ_BORROWER = "borrower_vmid"  # the VM_IRQ_LEND request field naming it

# --- lifecycles (dissector.analysis.lifecycles): RM HEAD vm_status names (protocol.md 6.1) -----
LOAD, INIT, AUTH, READY, RUNNING, PAUSED = "LOAD", "INIT", "AUTH", "READY", "RUNNING", "PAUSED"
EXITED, RESETTING, RESET = "EXITED", "RESETTING", "RESET"
INIT_FAILED, DEALLOCATED = "INIT_FAILED", "DEALLOCATED"
AUTH_PLATFORM = 1  # VM_CONFIG_IMAGE auth_mech: the VM goes to AUTH, not INIT
STOP_FORCE = 0x1  # VM_STOP flags: a forced stop ends in EXITED
# where the teardown of a VM that never ran begins
TEARDOWN_STATES = frozenset({INIT_FAILED, EXITED, RESETTING, RESET})
# Calls whose success changes the state (VM_ALLOCATE starts an instance, VM_DEALLOCATE ends it,
# VM_CONFIG_IMAGE -> INIT or AUTH by auth_mech, VM_STOP -> EXITED when forced), and the state
# the others move the VM to.
STATE_CALLS = (
    "VM_ALLOCATE", "VM_DEALLOCATE", "VM_CONFIG_IMAGE", "VM_AUTH_IMAGE", "VM_INIT", "VM_START", "VM_STOP",
    "VM_RESET", "VM_EXIT",
)  # fmt: skip
IMPLIED_STATES = {
    "VM_AUTH_IMAGE": INIT,
    "VM_INIT": READY,
    "VM_START": RUNNING,
    "VM_RESET": RESETTING,
    "VM_EXIT": EXITED,
}
