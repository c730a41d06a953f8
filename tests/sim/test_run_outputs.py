"""Outputs of a run: deterministic bytes, pcap/pcapng/hexlog, the truth log, the CLI."""

from __future__ import annotations

import argparse
import io
import os

import pytest

from dissector.sim import Spike, simulate
from dissector.sim.cli import register
from dissector.sim.engine import Engine, Signal, Sleep
from dissector.sim.latency import LatencyModel
from dissector.sim.truth import SCHEMA
from tests.sim.decoding import decode, load_truth, raw_records

SMALL = {"vms": 2, "duration": 1.5, "boots_per_vm": 1}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_a_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    a = simulate(
        seed=41, output=os.path.join(tmp_path, "a.pcapng"), faults="error=0.05,garbage=0.01", **SMALL
    )
    b = simulate(
        seed=41, output=os.path.join(tmp_path, "b.pcapng"), faults="error=0.05,garbage=0.01", **SMALL
    )
    c = simulate(
        seed=42, output=os.path.join(tmp_path, "c.pcapng"), faults="error=0.05,garbage=0.01", **SMALL
    )
    assert _read(a.capture) == _read(b.capture)
    assert load_truth(a.truth_path)["calls"] == load_truth(b.truth_path)["calls"]
    assert _read(a.capture) != _read(c.capture)


def test_pcap_and_pcapng_hold_the_same_records(tmp_path):
    ng = simulate(seed=43, output=os.path.join(tmp_path, "x.pcapng"), **SMALL)
    classic = simulate(seed=43, output=os.path.join(tmp_path, "x.pcap"), **SMALL)
    assert classic.format == "pcap" and ng.format == "pcapng"
    a, b = raw_records(ng.capture), raw_records(classic.capture)
    assert [(r.time_ns, r.direction, r.client_vmid, r.data) for r in a] == [
        (r.time_ns, r.direction, r.client_vmid, r.data) for r in b
    ]
    assert a[0].time_ns >= 1_767_225_600 * 10**9  # simulated time starts at 2026-01-01T00:00:00Z


def test_hexlog_holds_the_host_queue_as_the_kernel_prints_it(tmp_path):
    result = simulate(
        seed=44, output=os.path.join(tmp_path, "h.pcapng"), hexlog=os.path.join(tmp_path, "h.log"), **SMALL
    )
    with open(result.hexlog, encoding="utf-8") as f:
        text = f.read()
    assert "gh_rm_call TX msg_id: 56000001" in text and "gh_rm_recv: 00000000: 21 02" in text
    truth = load_truth(result.truth_path)
    host_calls = [c for c in truth["calls"] if c["client"] == 3]
    from_log = decode(result.hexlog)
    requests = from_log.of(type="request")
    assert [m["msg_name"] for m in requests] == [c["name"] for c in host_calls]
    replies = from_log.of(type="reply")
    assert len(replies) == sum(1 for c in host_calls if c["reply_frames"])
    assert all(m["time"] < 60 for m in from_log.messages)  # dmesg seconds since the host booted


def test_a_log_only_run(tmp_path):
    result = simulate(seed=45, output=os.path.join(tmp_path, "only.log"), **SMALL)
    assert result.format == "hexlog" and result.hexlog == result.capture
    assert decode(result.capture).of(name="VM_START")


def test_max_records_stops_the_capture_there(tmp_path):
    result = simulate(
        seed=46, output=os.path.join(tmp_path, "m.pcapng"), vms=4, duration=5.0, max_records=150
    )
    assert result.records == 150 and len(raw_records(result.capture)) == 150
    assert load_truth(result.truth_path)["capture"]["stopped_at_max_records"]


def test_truth_log_has_the_documented_shape(tmp_path):
    result = simulate(seed=47, output=os.path.join(tmp_path, "s.pcapng"), faults="crash@1", **SMALL)
    truth = load_truth(result.truth_path)
    assert truth["schema"] == SCHEMA
    assert set(truth) == {
        "schema",
        "params",
        "capture",
        "summary",
        "instances",
        "calls",
        "notifications",
        "faults",
        "parcels",
        "irqs",
        "damage",
    }
    assert truth["params"]["seed"] == 47 and truth["params"]["faults"]["spec"] == "crash@1"
    assert truth["capture"]["records"] == result.records == len(raw_records(result.capture))
    frames = {f for c in truth["calls"] for f in c["request_frames"] + c["reply_frames"]}
    frames |= {f for n in truth["notifications"] for f in n["frames"]}
    assert frames == set(range(1, result.records + 1))  # every record belongs to a call or notification
    crash = next(f for f in truth["faults"] if f["kind"] == "crash")
    assert crash["frames"]  # the crash message request and the VM_EXITED notification


def test_slow_rm_spike_stretches_the_calls_inside_it(tmp_path):
    base = simulate(seed=48, output=os.path.join(tmp_path, "n.pcapng"), **SMALL)
    slow = simulate(
        seed=48,
        output=os.path.join(tmp_path, "s.pcapng"),
        latency=LatencyModel(spikes=(Spike(0.0, 0.5, 50.0),)),
        **SMALL,
    )

    def first_start(truth):
        return next(c for c in truth["calls"] if c["name"] == "VM_ALLOCATE")["service"]

    a, b = load_truth(base.truth_path), load_truth(slow.truth_path)
    assert first_start(b) == pytest.approx(50 * first_start(a), abs=1e-7)  # ns rounding


def test_latency_grows_with_sgl_entries_and_spikes_parse():
    import random

    model = LatencyModel(tail_prob=0.0)
    small = model.service_ns(random.Random(1), "MEM_LEND", 1, 0)
    large = model.service_ns(random.Random(1), "MEM_LEND", 500, 0)
    assert large - small == pytest.approx(499 * model.per_entry_ns["MEM_LEND"], abs=2)
    assert Spike.parse("2:0.5:40") == Spike(2.0, 0.5, 40.0)
    with pytest.raises(ValueError, match="AT:DURATION:FACTOR"):
        Spike.parse("2:0.5")


def test_engine_orders_ties_by_scheduling_and_waits_time_out():
    engine = Engine(0)
    seen: list[object] = []
    signal = Signal(engine)

    def proc(name, wait):
        yield Sleep(10)
        got = yield signal.wait(wait)
        seen.append((name, engine.now, got))

    engine.spawn(proc("a", 100))
    engine.spawn(proc("b", 5))
    engine.at(50, lambda _: signal.fire("fired"))
    engine.run()
    assert seen == [("b", 15, None), ("a", 50, "fired")]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ghrm")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_writes_capture_and_truth(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    path = os.path.join(tmp_path, "cli.pcapng")
    args = _parser().parse_args(
        ["simulate", "--vms", "2", "--seed", "49", "--duration", "1.5", "--boots-per-vm", "1", "-o", path,
         "--faults", "start_fail@1", "--slow-rm", "0:0.01:5"]
    )  # fmt: skip
    assert args.func(args, out, err) == 0
    assert os.path.exists(path) and os.path.exists(path + ".truth.json")
    truth = load_truth(path + ".truth.json")
    assert f"wrote {truth['capture']['records']} records" in out.getvalue()
    assert truth["params"]["latency"]["spikes"] == [{"start": 0.0, "duration": 0.01, "factor": 5.0}]


def test_cli_rejects_a_bad_spec_with_usage_status(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    args = _parser().parse_args(["simulate", "--faults", "crash=2", "-o", os.path.join(tmp_path, "x.pcapng")])
    assert args.func(args, out, err) == 2
    assert "between 0 and 1" in err.getvalue()


def test_cli_help_documents_the_spec(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulate", "--help"])
    text = capsys.readouterr().out
    for word in ("KIND=RATE", "KIND@N", "error:CALL=RATE", "truncate_end", "reclaim_storm", "--host"):
        assert word in text
