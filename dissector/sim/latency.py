"""How long the RM takes to handle each call: lognormal bodies, a heavy tail, SGL scaling, spikes.

Why lognormal with a Pareto tail: service times of a busy management processor are products of
many small delays (lognormal), and now and then something unrelated (an interrupt storm, a
cache miss cascade, a hypervisor call that blocks) stretches one call by an order of magnitude.
Memory calls walk their scatter-gather list, so they grow with the number of entries. A spike
multiplies every service time inside a time window: the "slow RM" of the bundled traces.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

# Median RM service time per call, microseconds [sim choice: plausible orders of magnitude for
# a management VM, not measured]. VM_INIT builds the VM (address space, caps): the slowest.
MEDIAN_US: dict[str, float] = {
    "VM_ALLOCATE": 45.0,
    "VM_DEALLOCATE": 70.0,
    "VM_START": 260.0,
    "VM_STOP": 160.0,
    "VM_RESET": 120.0,
    "VM_CONFIG_IMAGE": 300.0,
    "VM_INIT": 1800.0,
    "VM_GET_HYP_RESOURCES": 90.0,
    "VM_SET_FIRMWARE_MEM": 60.0,
    "VM_SET_DEMAND_PAGING": 40.0,
    "VM_SET_ADDRESS_LAYOUT": 30.0,
    "VM_SET_BOOT_CONTEXT": 25.0,
    "MEM_LEND": 70.0,
    "MEM_SHARE": 75.0,
    "MEM_APPEND": 30.0,
    "MEM_RECLAIM": 60.0,
    "MEM_ACCEPT": 50.0,
    "MEM_RELEASE": 35.0,
    "MEM_NOTIFY": 20.0,
    "VM_IRQ_LEND": 20.0,
    "VM_IRQ_NOTIFY": 15.0,
    "VM_IRQ_ACCEPT": 25.0,
    "VM_IRQ_RELEASE": 15.0,
    "VM_IRQ_RECLAIM": 20.0,
    "VM_GET_VMID": 8.0,
    "VM_SET_STATUS": 12.0,
    "VM_CONSOLE_WRITE": 14.0,
    "VM_EXIT": 110.0,
    "VM_SET_CRASH_MSG": 12.0,
    "VM_GET_CRASH_MSG": 15.0,
}
DEFAULT_MEDIAN_US = 30.0

# Extra service time per SGL entry, nanoseconds (mapping/unmapping stage-2 pages).
PER_ENTRY_NS: dict[str, int] = {
    "MEM_LEND": 2500,
    "MEM_SHARE": 2500,
    "MEM_APPEND": 2500,
    "MEM_RECLAIM": 1800,
    "MEM_ACCEPT": 3000,
    "MEM_RELEASE": 1500,
    "VM_INIT": 400,  # RM maps the boot parcels
}


@dataclass(frozen=True)
class Spike:
    """Every service time that starts in ``[start, start + duration)`` (seconds from the capture
    start) is multiplied by ``factor``."""

    start: float
    duration: float
    factor: float

    @classmethod
    def parse(cls, text: str) -> Spike:
        """``AT:DURATION:FACTOR`` in seconds, seconds, times (``2.0:0.5:40``)."""
        try:
            at, dur, factor = (float(x) for x in text.split(":"))
        except ValueError:
            raise ValueError(
                f"slow-RM spike {text!r}: expected AT:DURATION:FACTOR, e.g. 2.0:0.5:40"
            ) from None
        if not all(math.isfinite(x) for x in (at, dur, factor)):
            raise ValueError(f"slow-RM spike {text!r}: every part must be a finite number")
        if dur <= 0 or factor <= 0 or at < 0:
            raise ValueError(f"slow-RM spike {text!r}: times must be >= 0, duration and factor > 0")
        if at > MAX_SECONDS or dur > MAX_SECONDS or factor > MAX_FACTOR:
            raise ValueError(
                f"slow-RM spike {text!r}: times must be at most {MAX_SECONDS:g} s and the factor "
                f"at most {MAX_FACTOR:g}"
            )
        return cls(at, dur, factor)

    def to_json(self) -> dict[str, float]:
        return {"start": self.start, "duration": self.duration, "factor": self.factor}


MAX_SECONDS = 1e6  # 11.6 days of simulated time: far beyond any run, far inside every timestamp
MAX_FACTOR = 1e4  # slow-down factor or latency scale: 10 ms become 100 s


@dataclass(frozen=True)
class LatencyModel:
    """RM service-time distribution per call (see the module docstring)."""

    scale: float = 1.0  # multiplies every median
    sigma: float = 0.35  # lognormal shape
    tail_prob: float = 0.01  # chance that a call hits the long tail
    tail_alpha: float = 1.5  # Pareto shape of the tail multiplier
    tail_cap: float = 60.0  # the tail multiplies by at most this
    medians_us: dict[str, float] = field(default_factory=lambda: dict(MEDIAN_US))
    per_entry_ns: dict[str, int] = field(default_factory=lambda: dict(PER_ENTRY_NS))
    spikes: tuple[Spike, ...] = ()

    def __post_init__(self) -> None:
        # mu of the lognormal per call, precomputed
        mus = {name: math.log(us * 1000.0 * self.scale) for name, us in self.medians_us.items()}
        object.__setattr__(self, "_mu", mus)
        object.__setattr__(self, "_default_mu", math.log(DEFAULT_MEDIAN_US * 1000.0 * self.scale))

    def service_ns(self, rng: random.Random, call: str, entries: int, since_start_ns: int) -> int:
        """One service time in ns for ``call`` with ``entries`` SGL entries, starting at
        ``since_start_ns`` after the capture start."""
        mu = self._mu.get(call, self._default_mu)  # type: ignore[attr-defined]
        t = math.exp(rng.gauss(mu, self.sigma))
        if self.tail_prob and rng.random() < self.tail_prob:
            t *= min(self.tail_cap, rng.paretovariate(self.tail_alpha))
        if entries:
            t += entries * self.per_entry_ns.get(call, 0) * self.scale
        if not self.spikes:
            return max(1000, int(t))
        for spike in self.spikes:
            start = spike.start * 1e9
            if start <= since_start_ns < start + spike.duration * 1e9:
                t *= spike.factor
        return max(1000, int(t))

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "sigma": self.sigma,
            "tail_prob": self.tail_prob,
            "tail_alpha": self.tail_alpha,
            "tail_cap": self.tail_cap,
            "spikes": [s.to_json() for s in self.spikes],
        }
