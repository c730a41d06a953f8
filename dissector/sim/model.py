"""One simulation: the clock, the random streams, the RM, the host, the guests and the wire.

Why separate random streams: each part of the model draws from its own ``random.Random``
seeded from the run's seed and the part's name (string seeds hash with SHA-512, so this is
stable across Python runs and machines). Nothing reads the wall clock or the host system.
"""

from __future__ import annotations

import random

from dissector.protocol import registry
from dissector.protocol.codec import StructCodec

from .config import EPOCH_NS, SimConfig
from .driver import message_ids
from .engine import Engine
from .faults import Dice
from .guest import Guest
from .host import Host
from .plan import Planner
from .rm import ResourceManager
from .rm_core import RMVm
from .truth import Truth
from .wire import Sink, Wire
from .world import ClientDriver


class Sim:
    """Wires the models together; ``run()`` plays the whole scenario."""

    def __init__(self, config: SimConfig, sink: Sink) -> None:
        self.config = config
        self.timing = config.timing
        self.latency = config.latency
        seed = config.seed
        self.rng_host = random.Random(f"{seed}/host")
        self.rng_guest = random.Random(f"{seed}/guest")
        self.rng_rm = random.Random(f"{seed}/rm")
        self.rng_wire = random.Random(f"{seed}/wire")
        self.dice = Dice(config.faults, random.Random(f"{seed}/faults"))
        self.engine = Engine(EPOCH_NS)
        self.end_ns = EPOCH_NS + int(config.duration * 1e9)
        self.truth = Truth(params=config.to_json())
        self.wire = Wire(
            self.engine, self.timing, self.dice, self.rng_wire, self.truth, sink, config.max_records
        )
        self.engine.on_advance = self.wire.flush
        self.engine.watch = self.wire.heap
        self.msg_ids = message_ids(config.dialect, config.boot_context_id)
        self.names = {m.msg_id: registry.message_name(m.msg_id, config.dialect) for m in registry.messages()}
        self.drivers: dict[int, ClientDriver] = {}
        # compiled payload codecs by msg_id, looked up once per message on the hot path
        self.request_codecs: dict[int, StructCodec] = {}
        self.reply_codecs: dict[int, StructCodec] = {}
        self.notification_codecs: dict[int, StructCodec] = {}
        self.planner = Planner(config, self.rng_host, self.dice)
        self.rm = ResourceManager(self)
        self.host = Host(self)
        self.guests: dict[int, Guest] = {}

    def run(self) -> Truth:
        self.host.start()
        self.engine.run()
        self.wire.flush(None)
        self.truth.records = self.wire.count
        return self.truth

    def start_guest(self, vm: RMVm) -> None:
        self.guests[vm.vmid] = Guest(self, vm)

    def stop_guest(self, vmid: int) -> None:
        guest = self.guests.pop(vmid, None)
        if guest is not None:
            guest.stop()
