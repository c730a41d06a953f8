"""The Resource Manager: one FIFO server that answers calls and broadcasts what changed.

What it does, after RM HEAD as protocol.md 1.4-1.6, 4 and 5 describe it:

* requests are served one at a time in arrival order (queueing when many clients talk at once);
  the service time comes from ``LatencyModel``;
* a reply echoes the request's seq and msg_id, and starts with the error code;
* every VM status change is announced with VM_STATUS to the VM's owner (its only peer here);
  exits also send VM_EXITED (exit type and reason words) to the owner;
* notifications take their seq from one RM-global 16-bit counter;
* VM state rules: ALLOCATE -> LOAD, CONFIG_IMAGE -> INIT, INIT -> READY (or INIT_FAILED),
  START -> RUNNING (or INIT_FAILED), STOP/EXIT/halt -> EXITED, RESET -> RESETTING and later,
  asynchronously, RESET; a call in the wrong state gets VM_STATE;
* memory parcels (LEND/SHARE/APPEND/ACCEPT/RELEASE/NOTIFY/RECLAIM) and lent IRQs
  (IRQ_LEND/NOTIFY/ACCEPT/RELEASE/RECLAIM) with the notifications they cause.

Errors that follow from the model's state (reclaiming a stale handle: HANDLE_INVALID) are
natural; injected ones come from ``Dice`` and carry the fault's name in the truth log.
The parts: ``rm_core`` (serving, replies, notifications, states), ``rm_vm``, ``rm_memory``,
``rm_guest`` (the handlers).
"""

from __future__ import annotations

from .rm_core import RMCore
from .rm_guest import GuestCalls
from .rm_memory import MemoryCalls
from .rm_vm import VmCalls


class ResourceManager(VmCalls, MemoryCalls, GuestCalls, RMCore):
    """The RM model; ``receive`` is where requests arrive."""
