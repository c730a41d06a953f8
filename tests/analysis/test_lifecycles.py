"""Lifecycles rebuilt from calls and notifications, and the findings they raise."""

from __future__ import annotations

import math

import pytest

from dissector.analysis.select import MissingData
from dissector.trace import Trace
from tests.analysis.rmconvo import Conversation


def trace_of(c: Conversation, **kw) -> Trace:
    return Trace.from_records(c.records, capture="test", **kw)


def codes(t: Trace) -> list[str]:
    return t.findings["code"].astype(str).tolist()


@pytest.mark.parametrize("notify", [True, False])
def test_boot_and_teardown_give_the_rm_state_sequence(notify):
    c = Conversation()
    boot = c.boot(0x80, notify=notify)
    down = c.teardown(0x80, notify=notify)
    t = trace_of(c)
    states = t.lifecycle(0x80)["state"].astype(str).tolist()
    if notify:
        assert states == ["LOAD", "INIT", "READY", "RUNNING", "EXITED", "RESETTING", "RESET"]
    else:  # the calls alone: no RESET status without VM_STATUS
        assert states == ["LOAD", "INIT", "READY", "RUNNING", "EXITED", "RESETTING"]
    s = t.lifecycle_summary.iloc[0]
    first = t.messages.set_index("frame")["t"]
    assert s["allocated_at"] == first[boot["alloc_req"]]
    running = boot["start_rep"]  # the reply comes before RM's VM_STATUS: first evidence wins
    # durations are differences of float epoch seconds (~0.2 us of rounding); t is exact
    assert math.isclose(s["boot_latency"], first[running] - first[boot["alloc_req"]], abs_tol=1e-6)
    assert s["final_state"] == "DEALLOCATED" and s["deallocated_at"] == first[down["dealloc_rep"]]
    assert s["states"].startswith("LOAD>INIT>READY>RUNNING>EXITED")
    assert s["run_time"] > 0 and s["teardown_time"] > 0
    intervals = t.lifecycles
    assert not intervals["ongoing"].any()
    assert (intervals["end"].iloc[:-1].to_numpy() == intervals["start"].iloc[1:].to_numpy()).all()
    if notify:
        assert s["exit_type"] == "VM_STOP_FORCED"
    assert "never_deallocated" not in codes(t) and "invalid_transition" not in codes(t)


def test_repeated_status_does_not_start_a_new_interval():
    c = Conversation()
    c.boot(0x80)
    c.status(0x80, 3)
    c.status(0x80, 3)
    assert trace_of(c).lifecycle(0x80)["state"].astype(str).tolist()[-1:] == ["RUNNING"]
    assert len(trace_of(c).lifecycle(0x80)) == 4


def test_vmid_reuse_after_dealloc_is_a_new_instance():
    c = Conversation()
    c.boot(0x80)
    c.teardown(0x80)
    c.boot(0x80)
    t = trace_of(c)
    assert t.lifecycle_summary["instance"].tolist() == [1, 2]
    assert t.lifecycle(0x80, instance=2)["state"].astype(str).tolist() == ["LOAD", "INIT", "READY", "RUNNING"]
    assert t.findings.query("code == 'never_deallocated'")["vmid"].tolist() == [0x80]


def test_start_before_init_and_calls_after_dealloc_are_invalid():
    c = Conversation()
    c.call("VM_ALLOCATE", vmid=0, reply_fields={"vmid": 0x81})
    c.status(0x81, 5)
    early, _ = c.call("VM_START", err=0x14, vmid=0x81)
    c.call("VM_DEALLOCATE", vmid=0x81)
    late, _ = c.call("VM_START", err=0xD, vmid=0x81)
    f = trace_of(c).findings
    bad = f[f["code"] == "invalid_transition"].iloc[0]
    assert bad["frames"] == (early,) and bad["severity"] == "error" and "LOAD" in bad["text"]
    gone = f[f["code"] == "call_on_deallocated"].iloc[0]
    assert gone["frames"][0] == late and gone["vmid"] == 0x81


def test_long_states_abnormal_exit_and_init_failed_are_reported():
    c = Conversation(step_ns=2_000_000_000)  # 2 s between messages: READY lasts too long
    c.boot(0x80)
    crash = c.notify("VM_EXITED", vmid=0x80, exit_type=4, exit_reason={"exit_flags": 0, "exit_code": 1})
    c.call("VM_ALLOCATE", vmid=0, reply_fields={"vmid": 0x81})
    c.status(0x81, 8)
    t = trace_of(c, state_limits={"READY": 1.0})
    f = t.findings
    assert "state_held" in codes(t)
    exit_row = f[f["code"] == "abnormal_exit"].iloc[0]
    assert exit_row["frames"] == (crash,) and "WATCHDOG_BITE" in exit_row["text"]
    assert f[f["code"] == "init_failed"]["vmid"].tolist() == [0x81]
    assert t.lifecycle_summary.set_index("vmid").loc[0x80, "exit_type"] == "WATCHDOG_BITE"


def test_forced_stop_before_os_run_is_a_hung_boot():
    c = Conversation()
    c.boot(0x80)
    c.status(0x80, 3, os_status=2)  # BOOT
    stop, _ = c.call("VM_STOP", vmid=0x80, flags=1, stop_reason=3)
    found = trace_of(c).findings.query("code == 'boot_hang'")
    assert found["frames"].tolist() == [(stop,)]


def test_asking_for_an_unknown_vm_names_the_known_ones():
    c = Conversation()
    c.boot(0x80)
    t = trace_of(c)
    with pytest.raises(MissingData, match=r"0x99.*known: 0x80"):
        t.lifecycle(0x99)
    with pytest.raises(MissingData, match="known: 1"):
        t.lifecycle(0x80, instance=3)


def test_window_keeps_overlapping_intervals_and_the_full_trace_unchanged():
    c = Conversation()
    c.boot(0x80)
    c.teardown(0x80)
    t = trace_of(c)
    w = t.window(0.0035, 0.0065)
    assert len(t.messages) > len(w.messages) > 0
    assert w.messages["t"].min() >= 0.0035
    assert 0 < len(w.lifecycles) < len(t.lifecycles)
    assert len(t.lifecycles) == 7  # the parent is untouched
