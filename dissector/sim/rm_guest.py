"""RM handlers of the calls a running guest makes about itself (protocol.md 4.2, 4.7).

VM_SET_STATUS updates the os status and tells the owner (VM_STATUS); VM_CONSOLE_WRITE is
forwarded to the owner as VM_CONSOLE_CHARS; VM_EXIT ends the VM (EXITED, VM_EXITED type
VM_EXIT); the crash message is kept for the owner's VM_GET_CRASH_MSG.
"""

from __future__ import annotations

from . import faults as E
from .driver import Call
from .rm_core import EXIT_VM_EXIT, EXITED, HLOS, OS_NAMES, RESET, RESETTING, RUNNING, RMCore, RMVm
from .truth import StateChange as Change


class GuestCalls(RMCore):
    """VM_GET_VMID, VM_SET_STATUS, VM_CONSOLE_WRITE, VM_EXIT, VM_SET/GET_CRASH_MSG."""

    def _guest(self, call: Call) -> RMVm | None:
        """The calling guest, if it is a running VM; else an error reply."""
        code = self._injected(call)
        if code is not None:
            self._fail(call, code)
            return None
        vm = self.vms.get(call.client)
        if vm is None or call.client == HLOS:
            self.reply(call, E.DENIED)
            return None
        if vm.status != RUNNING:
            self.reply(call, E.VM_STATE)
            return None
        return vm

    def _h_vm_get_vmid(self, call: Call) -> None:
        if self._rejected(call):
            return
        self.reply(call, 0, {"vmid": call.client, "_padding": 0})

    def _h_vm_set_status(self, call: Call) -> None:
        vm = self._guest(call)
        if vm is None:
            return
        self.reply(call)
        os_status = call.values.get("os_status", 0)
        if os_status:
            vm.os_status = os_status
            change = Change(
                self.engine.now, os_status, OS_NAMES.get(os_status, str(os_status)), self._cause(call)
            )
            vm.truth.os_states.append(change)
            change.notify = self._status_notif(vm)

    def _h_vm_console_write(self, call: Call) -> None:
        vm = self._guest(call)
        if vm is None:
            return
        self.reply(call)
        self.notify(
            vm.owner, "VM_CONSOLE_CHARS", {"vmid": vm.vmid, "bytes": call.values.get("data", b"")}, vm.vmid
        )

    def _h_vm_exit(self, call: Call) -> None:
        vm = self._guest(call)
        if vm is None:
            return
        self.reply(call)
        self.halt(
            vm,
            EXIT_VM_EXIT,
            call.values.get("exit_flags", 0),
            call.values.get("exit_code", 0),
            self._cause(call),
        )

    def _h_vm_set_crash_msg(self, call: Call) -> None:
        vm = self._guest(call)
        if vm is None:
            return
        msg = bytes(call.values.get("msg", b""))[:192]
        vm.crash_msg = msg
        vm.truth.crash_msg = msg.decode(errors="replace")
        self.reply(call)

    def _h_vm_get_crash_msg(self, call: Call) -> None:
        vm = self._guard(call, (EXITED, RUNNING, RESETTING, RESET))
        if vm is not None:
            self.reply(call, 0, {"msg": vm.crash_msg})
