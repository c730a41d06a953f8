"""``checks._VmEvents`` (bisection per VMID) finds what the scans it replaced found."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dissector.analysis.ledgers.checks import _VmEvents
from dissector.analysis.ledgers.events import Call, VmEvent

KINDS = ("reset", "deallocate")


@st.composite
def vm_event_lists(draw: Any) -> list[VmEvent]:
    """VM events in frame order (ties allowed), as a story lists them."""
    frames = sorted(draw(st.lists(st.integers(0, 40), max_size=25)))
    return [
        VmEvent(
            draw(st.sampled_from(KINDS)), draw(st.integers(0x80, 0x83)), Call("VM_RESET", {"frame": f}, None)
        )
        for f in frames
    ]


@given(vm_event_lists(), st.integers(0x80, 0x83), st.integers(-1, 42))
def test_vm_events_equal_the_scans(events: list[VmEvent], vmid: int, frame: int) -> None:
    index = _VmEvents(events)
    for kind in KINDS:
        scan = next((e for e in events if e.kind == kind and e.vmid == vmid and e.call.frame >= frame), None)
        assert index.first(vmid, frame, kind) is scan
        every = [e for e in events if e.kind == kind and e.vmid == vmid]
        assert index.last(vmid, kind) is (every[-1] if every else None)
    after = next((e for e in events if e.vmid == vmid and e.call.frame > frame), None)
    assert index.first(vmid, frame, after=True) is after
