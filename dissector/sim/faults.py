"""Fault injection: the ``--faults`` SPEC language, the error codes each call really returns,
and the dice.

Why a small language: a trace is reproducible from its seed *and* its fault spec, so the spec
must be a short string that fits on a command line and in the truth log, and that prints back
in one canonical form.

SPEC syntax (items separated by commas, whitespace ignored)::

    SPEC  := ITEM ("," ITEM)*
    ITEM  := KIND "=" RATE           a probability in [0, 1]
           | KIND "@" N ("+" N)*     exactly the N-th VM instance(s), 1-based, in boot order
           | "error:" CALL "=" RATE  an error rate for one call (RM name, e.g. error:VM_START=0.5)
           | "truncate_end"          a flag (same as truncate_end=1)

Kinds and what one roll means:

========================  ================================================================
``error``                 per call: the RM answers with an error code that call really
                          returns (``ERROR_CODES``); the caller reacts as Linux would
``lost_reply``            per reply: the RM's reply is lost (not delivered, not captured), as
                          when a full RX queue makes RM replace its one pending reply per
                          client; the caller gives up after its call timeout
``dup_reply``             per reply: the RM sends the reply twice
``reused_seq``            per request: the client reuses the seq of its previous request
``crash``                 per VM instance: the guest panics (VM_SET_CRASH_MSG) and hangs, the
                          watchdog bites, VM_EXITED type WATCHDOG_BITE
``start_fail``            per instance: VM_START answered NORESOURCE, VM status INIT_FAILED
``init_fail``             per instance: VM_INIT fails, VM status INIT_FAILED
``hang``                  per instance: the guest stops booting (host stops it after its boot
                          timeout) or, one time in three, the RM never finishes VM_RESET
``reclaim_storm``         per instance: the host's teardown re-reclaims every parcel a few
                          times; each retry is answered HANDLE_INVALID
``lost_fragment``         per multi-fragment message: one continuation is missing from the
                          capture (delivered, not captured)
``garbage``               per record: a garbage record (bad api byte or too short) is
                          captured on the same queue just before it
``truncate_end``          the capture's last record is cut in half
========================  ================================================================

Example: ``error=0.02,lost_reply=0.01,dup_reply=0.01,crash=0.1,start_fail@2,truncate_end``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from dissector.protocol.errors import RM_ERRORS

# Per-call rates; per-instance kinds may also name instances with "@".
CALL_KINDS = ("error", "lost_reply", "dup_reply", "reused_seq")
INSTANCE_KINDS = ("crash", "start_fail", "init_fail", "hang", "reclaim_storm")
RECORD_KINDS = ("lost_fragment", "garbage")
FLAG_KINDS = ("truncate_end",)
KINDS = (*CALL_KINDS, *INSTANCE_KINDS, *RECORD_KINDS, *FLAG_KINDS)

# Error names as RM spells them (protocol.md 2).
OK = 0
NOMEM, NORESOURCE, DENIED, MSG_INVALID, BUSY, ARGUMENT_INVALID, HANDLE_INVALID = 1, 2, 3, 4, 5, 6, 7
VALIDATE_FAILED, MAP_FAILED, MEM_INVALID, MEM_INUSE, MEM_RELEASED, VMID_INVALID = 8, 9, 10, 11, 12, 13
IRQ_INVALID, IRQ_INUSE, IRQ_RELEASED, VM_STATE = 15, 16, 17, 0x14

# The codes each call really returns, from the RM handlers cited in protocol.md 4 (the first
# code of each row is the one an injected fault uses most often).
ERROR_CODES: dict[str, tuple[int, ...]] = {
    "VM_ALLOCATE": (NORESOURCE, NOMEM, ARGUMENT_INVALID),
    "VM_DEALLOCATE": (VM_STATE, ARGUMENT_INVALID, DENIED),
    "VM_START": (NORESOURCE, VM_STATE, DENIED),
    "VM_STOP": (VM_STATE, DENIED, ARGUMENT_INVALID),
    "VM_RESET": (VM_STATE, BUSY, DENIED),
    "VM_CONFIG_IMAGE": (HANDLE_INVALID, ARGUMENT_INVALID, VM_STATE, DENIED),
    "VM_INIT": (NOMEM, ARGUMENT_INVALID, VM_STATE),
    "VM_GET_HYP_RESOURCES": (ARGUMENT_INVALID, NOMEM),
    "VM_SET_FIRMWARE_MEM": (ARGUMENT_INVALID, HANDLE_INVALID, VM_STATE),
    "VM_SET_DEMAND_PAGING": (ARGUMENT_INVALID, VM_STATE),
    "VM_SET_ADDRESS_LAYOUT": (ARGUMENT_INVALID, VM_STATE),
    "VM_SET_BOOT_CONTEXT": (ARGUMENT_INVALID, VM_STATE),
    "MEM_LEND": (NOMEM, ARGUMENT_INVALID, MEM_INVALID, DENIED),
    "MEM_SHARE": (NOMEM, ARGUMENT_INVALID, MEM_INVALID, DENIED),
    "MEM_APPEND": (HANDLE_INVALID, ARGUMENT_INVALID, NOMEM),
    "MEM_RECLAIM": (HANDLE_INVALID, MEM_INUSE, DENIED),
    "MEM_ACCEPT": (HANDLE_INVALID, VALIDATE_FAILED, MAP_FAILED, MEM_INVALID),
    "MEM_RELEASE": (HANDLE_INVALID, MEM_RELEASED, DENIED),
    "MEM_NOTIFY": (HANDLE_INVALID, ARGUMENT_INVALID),
    "VM_IRQ_LEND": (IRQ_INVALID, IRQ_INUSE, VMID_INVALID),
    "VM_IRQ_NOTIFY": (IRQ_INVALID, ARGUMENT_INVALID),
    "VM_IRQ_ACCEPT": (IRQ_INVALID, IRQ_INUSE),
    "VM_IRQ_RELEASE": (IRQ_INVALID, IRQ_RELEASED),
    "VM_IRQ_RECLAIM": (IRQ_INVALID, IRQ_INUSE),
    "VM_GET_VMID": (ARGUMENT_INVALID,),
    "VM_SET_STATUS": (DENIED, ARGUMENT_INVALID),
    "VM_CONSOLE_WRITE": (ARGUMENT_INVALID, DENIED),
    "VM_EXIT": (ARGUMENT_INVALID, VM_STATE),
    "VM_SET_CRASH_MSG": (ARGUMENT_INVALID,),
    "VM_GET_CRASH_MSG": (ARGUMENT_INVALID, DENIED),
}

_ITEM = re.compile(
    r"^(?:error:(?P<call>[A-Z0-9_]+)=(?P<crate>[0-9.eE+-]+)"
    r"|(?P<kind>[a-z_]+)(?:=(?P<rate>[0-9.eE+-]+)|@(?P<at>\d+(?:\+\d+)*))?)$"
)


class FaultSpecError(ValueError):
    """A ``--faults`` string that does not parse; the message says what was expected."""


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault rates; ``str()`` gives the canonical spec."""

    rates: dict[str, float] = field(default_factory=dict)
    targets: dict[str, tuple[int, ...]] = field(default_factory=dict)  # kind -> instance ordinals
    call_errors: dict[str, float] = field(default_factory=dict)  # call name -> error rate
    truncate_end: bool = False

    @classmethod
    def parse(cls, spec: str | FaultSpec | None) -> FaultSpec:
        """Parse a SPEC string (see the module docstring); ``None`` or ``""`` means no faults."""
        if isinstance(spec, FaultSpec):
            return spec
        rates: dict[str, float] = {}
        targets: dict[str, tuple[int, ...]] = {}
        call_errors: dict[str, float] = {}
        truncate = False
        for raw in (spec or "").split(","):
            item = re.sub(r"\s+", "", raw)
            if not item:
                continue
            m = _ITEM.match(item)
            if m is None:
                raise FaultSpecError(
                    f"cannot read fault item {raw.strip()!r}; expected KIND=RATE, KIND@N or error:CALL=RATE"
                )
            if m.group("call"):
                call = m.group("call")
                if call not in ERROR_CODES:
                    raise FaultSpecError(
                        f"error:{call}: no error codes known for {call}; known: {', '.join(ERROR_CODES)}"
                    )
                call_errors[call] = _rate(m.group("crate"), item)
                continue
            kind = m.group("kind")
            if kind not in KINDS:
                raise FaultSpecError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
            if kind in FLAG_KINDS:
                if m.group("at"):
                    raise FaultSpecError(f"{kind} is a flag; write it alone")
                truncate = m.group("rate") is None or _rate(m.group("rate"), item) > 0
            elif m.group("at"):
                if kind not in INSTANCE_KINDS:
                    raise FaultSpecError(
                        f"{kind}@N: only per-instance kinds take @N ({', '.join(INSTANCE_KINDS)})"
                    )
                targets[kind] = tuple(sorted({int(n) for n in m.group("at").split("+")}))
            elif m.group("rate") is not None:
                rates[kind] = _rate(m.group("rate"), item)
            else:
                raise FaultSpecError(f"{kind} needs a rate ({kind}=0.01) or an instance ({kind}@1)")
        return cls(rates, targets, call_errors, truncate)

    def __str__(self) -> str:
        items = [f"{k}={_fmt(self.rates[k])}" for k in KINDS if k in self.rates]
        items += [f"{k}@{'+'.join(str(n) for n in self.targets[k])}" for k in KINDS if k in self.targets]
        items += [f"error:{c}={_fmt(r)}" for c, r in sorted(self.call_errors.items())]
        if self.truncate_end:
            items.append("truncate_end")
        return ",".join(items)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": str(self),
            "rates": {k: self.rates[k] for k in KINDS if k in self.rates},
            "targets": {k: list(v) for k, v in self.targets.items()},
            "call_errors": dict(sorted(self.call_errors.items())),
            "truncate_end": self.truncate_end,
        }

    @property
    def empty(self) -> bool:
        return not (self.rates or self.targets or self.call_errors or self.truncate_end)


def _rate(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"{item}: {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"{item}: a rate is a probability between 0 and 1, not {value}")
    return value


def _fmt(rate: float) -> str:
    return f"{rate:g}"


class Dice:
    """The fault decisions of one run, from their own random stream.

    A separate stream keeps the dice independent of latencies: the same seed with another
    fault rate changes which faults happen, not every timestamp before the first one.
    """

    def __init__(self, spec: FaultSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self._rates = spec.rates
        self.errors = bool(spec.call_errors) or spec.rates.get("error", 0.0) > 0

    def roll(self, kind: str) -> bool:
        rate = self._rates.get(kind, 0.0)
        return rate > 0.0 and self.rng.random() < rate

    def for_instance(self, kind: str, ordinal: int) -> bool:
        """Per-instance kinds: targeted by ``@N`` or rolled at their rate."""
        targets = self.spec.targets.get(kind)
        if targets is not None and ordinal in targets:
            return True
        return self.roll(kind)

    def active(self, kind: str) -> bool:
        """Whether ``kind`` can happen at all in this run (lets hot paths skip the roll)."""
        return self._rates.get(kind, 0.0) > 0.0

    def error_code(self, call: str) -> int | None:
        """An injected error for one call of ``call``, or None."""
        if not self.errors:
            return None
        codes = ERROR_CODES.get(call)
        if codes is None:
            return None
        rate = self.spec.call_errors.get(call, self._rates.get("error", 0.0))
        if rate <= 0.0 or self.rng.random() >= rate:
            return None
        # the first code is the common one; the others share the rest
        if len(codes) == 1 or self.rng.random() < 0.6:
            return codes[0]
        return codes[1 + self.rng.randrange(len(codes) - 1)]


def error_name(code: int) -> str:
    return RM_ERRORS.name_of(code)
