"""What the actors of a simulation (drivers, guests, host, RM) use of it, as Protocols.

Why: ``model.Sim`` builds the actors and hands itself to each; typed as ``Sim``, every actor
imported ``model`` back (nine files in one import circle). They are typed against ``World``
instead, which ``Sim`` satisfies structurally; this module imports only the lower pieces
(clock, wire, dice, truth, plan), so the graph stays one-way: ``model`` -> actors -> ``world``.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from dissector.protocol.codec import StructCodec

from .config import SimConfig, Timing
from .engine import Engine
from .faults import Dice
from .latency import LatencyModel
from .plan import Planner
from .truth import MsgRef, Truth
from .wire import Wire


class ClientDriver(Protocol):
    """What the RM uses of a client's driver: where replies and notifications go."""

    wants: frozenset[str]

    def deliver_reply(self, reply: tuple[int, int, int, dict[str, Any]]) -> None: ...

    def deliver_notification(self, item: tuple[str, dict[str, Any], MsgRef]) -> None: ...


class RmEndpoint(Protocol):
    """What the clients use of the RM: a call arriving, and the hypervisor reporting a VM exit."""

    def receive(self, call: Any) -> None: ...

    def hypervisor_exit(self, item: tuple[int, int, int, int, tuple[int, ...]]) -> None: ...


class World(Protocol):
    """The shared state of one run and the two actions the RM asks of it."""

    config: SimConfig
    timing: Timing
    latency: LatencyModel
    rng_host: random.Random
    rng_guest: random.Random
    rng_rm: random.Random
    dice: Dice
    engine: Engine
    end_ns: int
    truth: Truth
    wire: Wire
    msg_ids: dict[str, int]
    names: dict[int, str]
    request_codecs: dict[int, StructCodec]
    reply_codecs: dict[int, StructCodec]
    notification_codecs: dict[int, StructCodec]
    planner: Planner
    drivers: dict[int, ClientDriver]

    @property
    def rm(self) -> RmEndpoint: ...

    def start_guest(self, vm: Any) -> None: ...

    def stop_guest(self, vmid: int) -> None: ...
