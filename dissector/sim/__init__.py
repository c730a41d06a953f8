"""A deterministic model of the Gunyah Resource Manager and its clients that writes captures.

Why: no public RM capture exists. Users need sample traces to learn the tool on, and every
stage of ghrm needs traces, large and small, whose true story is known. ``simulate`` plays the
host VM manager (HLOS, VMID 3) booting and tearing down guest VMs with the call sequences of
protocol.md 8 (v11 or v17 host), the RM answering them (one FIFO server, replies echo seq and
msg_id, VM_STATUS for every state change, VM_EXITED with exit types and reasons, one global
notification seq counter), and the guests on their own queue pairs. Faults are injected at
configurable rates (``--faults`` SPEC, see ``dissector.sim.faults``). A seed always gives
byte-identical files: simulated time starts at 2026-01-01T00:00:00Z and nothing reads the
clock or the host.

Python API::

    from dissector.sim import simulate
    result = simulate(vms=20, seed=7, duration=5.0, faults="crash=0.1,start_fail@3",
                      host="v11", dialect="rm", output="fleet.pcapng")
    result.records, result.truth_path   # fleet.pcapng.truth.json: see dissector.sim.truth

Fault SPEC (full table in ``dissector.sim.faults``)::

    error=0.02,lost_reply=0.01,dup_reply=0.01,reused_seq=0.005,crash=0.1,start_fail=0.05,
    init_fail=0.02,hang=0.02,reclaim_storm=0.05,lost_fragment=0.01,garbage=0.001,truncate_end
    crash@2            the 2nd VM instance (boot order) crashes; start_fail@1+3 ...
    error:VM_START=0.5 an error rate for one call

Modules: ``config`` (parameters), ``engine`` (event loop), ``wire`` (queues, capture order),
``driver`` (Linux client side), ``rm`` (the Resource Manager), ``host`` (the VMM), ``guest``
(guest kernels), ``plan`` (per-instance plans), ``latency``, ``faults``, ``truth`` (ground
truth schema), ``damage`` (malformed captures), ``run`` (``simulate``), ``cli``.
"""

from __future__ import annotations

from .config import EPOCH_NS, SimConfig, Timing, Workload
from .faults import FaultSpec, FaultSpecError
from .latency import LatencyModel, Spike
from .run import SimResult, simulate

__all__ = [
    "EPOCH_NS",
    "FaultSpec",
    "FaultSpecError",
    "LatencyModel",
    "SimConfig",
    "SimResult",
    "Spike",
    "Timing",
    "Workload",
    "simulate",
]
