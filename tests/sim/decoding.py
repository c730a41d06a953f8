"""Test helpers: decode a simulated capture with the real decoder and index it by frame.

The simulator's own objects are never consulted here: everything a test compares comes from
``decode_file`` (what a user sees) on one side and the truth log on the other.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import decode_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACES = os.path.join(ROOT, "traces")
# vm_status values as the simulated RM sends them (protocol.md 6.1), written out independently of
# dissector.protocol so the tests check the decoder's names against them
STATUS = {
    5: "LOAD",
    1: "INIT",
    2: "READY",
    3: "RUNNING",
    8: "INIT_FAILED",
    9: "EXITED",
    10: "RESETTING",
    11: "RESET",
}


@dataclass
class Decoded:
    """One capture as ``ghrm decode --format jsonl`` shows it."""

    messages: list[dict[str, Any]]
    problems: list[CaptureProblem]
    interfaces: dict[int, str | None] = field(default_factory=dict)  # frame -> pcapng interface

    def at(self, frame: int) -> dict[str, Any]:
        """The message whose first record is ``frame``."""
        return self._by_frame[frame]

    def __post_init__(self) -> None:
        self._by_frame = {m["frame"]: m for m in self.messages}

    def of(self, *, type: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if (type is None or m["type"] == type) and (name is None or m["msg_name"] == name)
        ]

    @property
    def malformed_frames(self) -> set[int]:
        return {f for m in self.messages if m["malformed"] for f in m["frames"]}


def decode(path: str, dialect: str = "rm") -> Decoded:
    messages: list[dict[str, Any]] = []
    problems: list[CaptureProblem] = []
    interfaces: dict[int, str | None] = {}
    for item in decode_file(path, dialect=dialect):
        if isinstance(item, CaptureProblem):
            problems.append(item)
            continue
        messages.append(item.to_json())
        interfaces[item.raw.frame] = item.raw.interface
    return Decoded(messages, problems, interfaces)


def raw_records(path: str) -> list[Record]:
    """Every record of a capture as the reader yields it (capture problems dropped)."""
    with open_records(path) as stream:
        return [r for r in stream if isinstance(r, Record)]


def load_truth(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def make_traces_module() -> Any:
    """``traces/make_traces.py`` (not a package) loaded by path."""
    spec = importlib.util.spec_from_file_location("make_traces", os.path.join(TRACES, "make_traces.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_traces", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return sys.modules["make_traces"]
