"""What one VM instance will be and do, decided when the host starts to create it.

Why decide up front: the host, the RM and the guest are separate models, but a fault such as
"this VM fails to start" or "this guest crashes" must be one fact that all three act on and
the truth log records once. The plan is that fact; each model reads only its own part of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .config import SimConfig
from .faults import Dice

MIB = 1 << 20
PAGE = 4096
PHYS_BASE = 0x8_8000_0000  # where the host's memory chunks are found (physical addresses)
GUEST_IPA_BASE = 0x8000_0000  # guest RAM IPA (VM_SET_ADDRESS_LAYOUT, boot context)
GUEST_EXITS = ("vm_exit", "psci_off", "reset2")


@dataclass
class InstancePlan:
    """One VM instance's shape, faults and ending."""

    ordinal: int
    vcpus: int
    mem_mib: int
    pvm: bool
    main_sgl: list[tuple[int, int]]
    shared_sgl: list[tuple[int, int]]
    fw_sgl: list[tuple[int, int]]
    runtime_shares: list[tuple[int, list[tuple[int, int]]]]  # (trans_type 1 LEND / 2 SHARE, sgl)
    runtime_irqs: list[tuple[int, int]]  # (virq, label)
    exit_mode: str
    lifetime_ns: int
    console_lines: int
    dtb_size: int
    crash: bool = False
    crash_after_ns: int = 0
    start_fail: bool = False
    init_fail: bool = False
    hang: str | None = None  # "boot" or "reset"
    storm_retries: int = 0
    end_ns: int = 0  # set when the VM starts running: when it will end
    faults: list[Any] = field(default_factory=list)  # FaultRecords to complete later

    def to_json(self) -> dict[str, Any]:
        return {
            "ordinal": self.ordinal,
            "vcpus": self.vcpus,
            "mem_mib": self.mem_mib,
            "pvm": self.pvm,
            "sgl_entries": {
                "main": len(self.main_sgl),
                "shared": len(self.shared_sgl),
                "fw": len(self.fw_sgl),
            },
            "runtime_shares": len(self.runtime_shares),
            "runtime_irqs": len(self.runtime_irqs),
            "exit_mode": "crash" if self.crash else self.exit_mode,
            "lifetime": self.lifetime_ns / 1e9,
            "start_fail": self.start_fail,
            "init_fail": self.init_fail,
            "hang": self.hang,
            "reclaim_storm_retries": self.storm_retries,
        }


class Planner:
    """Draws plans from the workload description and the fault dice."""

    def __init__(self, config: SimConfig, rng: random.Random, dice: Dice) -> None:
        self.config = config
        self.rng = rng
        self.dice = dice
        self.ordinal = 0
        self._phys = PHYS_BASE

    def next(self) -> InstancePlan:
        cfg, w, rng, dice = self.config, self.config.workload, self.rng, self.dice
        self.ordinal += 1
        n = self.ordinal
        mem = w.mem_mib[rng.randrange(len(w.mem_mib))]
        entries = max(1, min(w.sgl_max, round(rng.lognormvariate(_ln(w.sgl_median), w.sgl_sigma))))
        main = self.sgl(mem * MIB, entries)
        shared = (
            self.sgl(rng.choice((2, 4, 8, 16)) * MIB, rng.randint(1, 4))
            if rng.random() < w.shared_region_prob
            else []
        )
        pvm = cfg.host == "v17" and rng.random() < w.pvm_prob
        fw = self.sgl(2 * MIB, 1) if pvm else []
        shares = []
        for _ in range(rng.randint(*w.runtime_shares)):
            shares.append(
                (rng.choice((1, 2)), self.sgl(rng.choice((64, 256, 1024)) * 1024, rng.randint(1, 8)))
            )
        irqs = [(rng.randrange(200, 900), 0x20 + i) for i in range(rng.randint(*w.runtime_irqs))]
        modes, weights = zip(*w.exit_mix, strict=True)
        mode = rng.choices(modes, weights)[0]
        t = cfg.timing
        lifetime = int(rng.lognormvariate(_ln(t.lifetime_ns), t.lifetime_sigma))
        plan = InstancePlan(
            ordinal=n,
            vcpus=rng.randint(*w.vcpus),
            mem_mib=mem,
            pvm=pvm,
            main_sgl=main,
            shared_sgl=shared,
            fw_sgl=fw,
            runtime_shares=shares,
            runtime_irqs=irqs,
            exit_mode=mode,
            lifetime_ns=lifetime,
            console_lines=rng.randint(*w.boot_console_lines),
            dtb_size=rng.randrange(0x2000, 0x8000, 0x100),
        )
        # per-instance faults: one roll each, in a fixed order
        plan.start_fail = dice.for_instance("start_fail", n)
        plan.init_fail = not plan.start_fail and dice.for_instance("init_fail", n)
        if dice.for_instance("hang", n):
            plan.hang = "reset" if rng.random() < 1 / 3 else "boot"
        plan.crash = plan.hang != "boot" and dice.for_instance("crash", n)
        plan.crash_after_ns = int(lifetime * rng.uniform(0.2, 0.7))
        if dice.for_instance("reclaim_storm", n):
            plan.storm_retries = rng.randint(*w.reclaim_storm_retries)
        return plan

    def sgl(self, total: int, entries: int) -> list[tuple[int, int]]:
        """``entries`` physically scattered chunks (4 KiB multiples) adding up to ``total``."""
        rng = self.rng
        pages = max(1, total // PAGE)
        entries = max(1, min(entries, pages))
        cuts = sorted(rng.sample(range(1, pages), entries - 1)) if entries > 1 else []
        out = []
        prev = 0
        for cut in [*cuts, pages]:
            size = (cut - prev) * PAGE
            gap = rng.randrange(1, 64) * PAGE
            out.append((self._phys + gap, size))
            self._phys += gap + size
            prev = cut
        return out


def _ln(x: float) -> float:
    import math

    return math.log(x)
