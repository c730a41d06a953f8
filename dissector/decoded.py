"""Whole RM messages with their Scapy dissection and the JSON view of design.md 1.3.

This is the hand-over point between capture I/O and everything above it: the CLI's decode
output, the Scapy path of the analysis and notebooks all start from ``DecodedMessage``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

from dissector.capture.reassembly import RawMessage, reassemble
from dissector.capture.record import CaptureProblem, Record
from dissector.errors import Malformation
from dissector.protocol import registry
from dissector.protocol.wire import MSGQ_MAX_MSG_SIZE, REPLY, RPC_HEADER_SIZE, MsgType

if TYPE_CHECKING:  # Scapy is imported on first dissection: the compiled decoder needs none of it
    from dissector.layers.header import RMHeader

TYPE_NAMES = {t.value: t.label for t in MsgType}


class ExactTime(float):
    """Seconds as a float that also remembers its exact decimal text (``text``).

    Why: ``time_ns / 1e9`` is the nearest float, whose shortest repr shows noise
    (1700000000.0019999 for .002000). ``jsonl_line`` prints ``text`` instead: the exact
    decimal at the capture's resolution, 6 digits (µs: pcap, pcapng's default, dmesg) unless
    the time has sub-microsecond digits, then 9 (ns). ``time_ns`` holds the exact integer.
    """

    text: str
    ns: int

    def __new__(cls, time_ns: int) -> ExactTime:
        sign = "-" if time_ns < 0 else ""
        sec, frac = divmod(abs(time_ns), 1_000_000_000)
        text = sign + (f"{sec}.{frac // 1000:06d}" if frac % 1000 == 0 else f"{sec}.{frac:09d}")
        obj = super().__new__(cls, text)
        obj.text = text
        obj.ns = time_ns
        return obj

    def __getnewargs__(self) -> tuple[int]:  # copy, pickle
        return (self.ns,)


def _time(time_ns: int | None) -> ExactTime | None:
    return None if time_ns is None else ExactTime(time_ns)


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(v, separators=...) uses
_C_ENCODE = getattr(json.encoder, "c_make_encoder", None)
if _C_ENCODE is not None:  # made once, not per call (no cycle check: records are trees)
    _C_ENCODE = _C_ENCODE(
        None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )


def _encode(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


json_text = _encode  # public name: ``decoders.lines`` writes a ``fields`` object as jsonl_line does


_encode_str: Any = (
    getattr(json.encoder, "c_encode_basestring_ascii", None) or json.encoder.encode_basestring_ascii
)
json_str = _encode_str  # public name: ``decoders.lines`` writes a string as jsonl_line does
_KEYS: dict[str, str] = {}


_LEAD = ("frame", "frames", "time", "time_end", "direction")  # design.md 1.3 key order


def jsonl_line(record: dict[str, Any]) -> str:
    """One compact JSON object; ``ExactTime`` values are written as their exact decimal text.

    The text is ``json.dumps(value, separators=(",", ":"))`` for every other value. A record in
    the contract's key order (``DecodedMessage.to_json``) is encoded in one call of the C encoder,
    its two times spliced in; a million lines spend most of their time here."""
    if len(record) > len(_LEAD) and tuple(islice(record, len(_LEAD))) == _LEAD:
        line = _contract_line(record)
        if line is not None:
            return line
    parts = []
    for key, value in record.items():
        head = _KEYS.get(key)
        if head is None:
            head = _KEYS[key] = json.dumps(key) + ":"
        kind = type(value)
        if value is None:
            text = "null"
        elif kind is int:
            text = int.__repr__(value)
        elif kind is str:
            text = _encode_str(value)
        elif kind is ExactTime:
            text = value.text
        elif kind is float and value - value == 0:  # finite: json writes float.__repr__
            text = float.__repr__(value)
        elif kind is list and all(type(v) is int for v in value):  # frames
            text = "[" + ",".join(map(int.__repr__, value)) + "]"
        else:
            text = _encode(value)
        parts.append(head + text)
    return "{" + ",".join(parts) + "}"


def _contract_line(record: dict[str, Any]) -> str | None:
    """``jsonl_line`` of a record that starts with the contract keys (None: take the long way)."""
    time, time_end = record["time"], record["time_end"]
    kinds = type(time), type(time_end)
    if not (kinds[0] is ExactTime or time is None) or not (kinds[1] is ExactTime or time_end is None):
        return None
    rest = record.copy()
    del rest["frame"], rest["frames"], rest["time"], rest["time_end"]
    if ExactTime in map(type, rest.values()):
        return None
    head = _encode({"frame": record["frame"], "frames": record["frames"]})
    when = f',"time":{"null" if time is None else time.text},"time_end":'
    when += "null" if time_end is None else time_end.text
    return head[:-1] + when + "," + _encode(rest)[1:]


def late_fields(layer: Any, boundary: int) -> list[str]:
    """Names of the fields (list entries as ``name[i:]``) of a payload layer that end past
    ``boundary`` bytes into it, in wire order."""
    out: list[str] = []
    at = 0
    for f in layer.fields_desc:
        if f.name not in layer.fields or layer.fields[f.name] is None:
            continue
        value = layer.fields[f.name]
        if isinstance(value, list):
            for i, entry in enumerate(value):
                at += len(bytes(entry))
                if at > boundary:
                    out.append(f"{f.name}[{i}:]")
                    break
            continue
        at += len(f.addfield(layer, b"", value))
        if at > boundary and not f.name.startswith("_"):
            out.append(f.name)
    return out


@dataclass
class DecodedMessage:
    """One reassembled RM message (or a stray fragment), dissected on first use."""

    raw: RawMessage
    dialect: str = "rm"
    capture_start_ns: int | None = None  # set by Trace.message: the notebook view then shows ``t``

    @property
    def t(self) -> float | None:
        """Seconds since the capture start (the tables' ``t``), when the capture start is known."""
        if self.raw.time_ns is None or self.capture_start_ns is None:
            return None
        return (self.raw.time_ns - self.capture_start_ns) / 1e9

    @cached_property
    def packet(self) -> RMHeader:
        """The Scapy dissection (``RMHeader`` / payload ...)."""
        from dissector.layers import dissect

        return dissect(self.raw.data, dialect=self.dialect)

    @property
    def frame(self) -> int:
        return self.raw.frames[0]

    @property
    def msg_type(self) -> int | None:
        return self.packet.msg_type

    @property
    def type_name(self) -> str | None:
        return TYPE_NAMES.get(self.packet.msg_type) if self.packet.msg_type is not None else None

    @property
    def seq(self) -> int | None:
        return self.packet.seq if self.raw.seq_known else None

    @property
    def msg_id(self) -> int | None:
        return self.packet.msg_id

    @property
    def msg_name(self) -> str | None:
        return None if self.msg_id is None else registry.message_name(self.msg_id, self.dialect)

    @property
    def err_code(self) -> int | None:
        from dissector.layers.reply import RMReply

        reply = self.packet.getlayer(RMReply)
        return reply.err_code if reply is not None and self.packet.msg_type == REPLY else None

    @property
    def err_name(self) -> str | None:
        code = self.err_code
        return None if code is None else registry.error_name(code, self.dialect)

    @cached_property
    def problems(self) -> list[Malformation]:
        """Reassembly faults first, then what the dissection found, then the fields decoded from
        bytes that a lost continuation may have shifted (``untrusted``)."""
        from dissector.layers import malformations

        found = [*self.raw.problems, *malformations(self.packet)]
        shaky = self.untrusted
        if shaky:
            found.append(
                Malformation(
                    "untrusted",
                    f"{', '.join(shaky)} decoded from bytes after frame {self.raw.frames[0]}'s record, "
                    "which a lost continuation may have shifted: not to be trusted",
                )
            )
        return found

    @cached_property
    def untrusted(self) -> list[str]:
        """Fields (``sgl[13:]``, ``label``) decoded from bytes past the first record of a message
        that lost a continuation: the continuations carry no index, so which one is missing, and
        where the later bytes belong, is unknown (protocol.md 1.5)."""
        lost = any(p.kind == "fragment" and str(p).startswith("incomplete:") for p in self.raw.problems)
        if not lost or len(self.raw.frames) < 2:
            return []
        from dissector.layers import payload_layer

        layer = payload_layer(self.packet)
        if layer is None or not hasattr(layer, "layout"):
            return []
        boundary = MSGQ_MAX_MSG_SIZE - RPC_HEADER_SIZE - (4 if self.packet.msg_type == REPLY else 0)
        return late_fields(layer, boundary)

    @property
    def malformed(self) -> str | None:
        return "; ".join(str(p) for p in self.problems) or None

    @cached_property
    def fields(self) -> dict[str, Any]:
        from dissector.layers import fields_of, payload_layer

        layer = payload_layer(self.packet)
        if layer is None:
            return {}
        if not hasattr(layer, "layout"):
            load = getattr(layer, "load", None) or getattr(layer, "data", b"")
            return {"data": bytes(load).hex()} if load else {}
        out = fields_of(layer)
        if self.untrusted:  # said in ``malformed`` too; here for scripts that read fields
            out["_untrusted"] = list(self.untrusted)
        return out

    def summary(self) -> str:
        from dissector.layers.summary import summary_line

        return summary_line(self.packet, self.dialect)

    def hexdump(self) -> str:
        """The reassembled bytes as Scapy's hexdump (offset, hex, ASCII), for a terminal."""
        from scapy.utils import hexdump

        return hexdump(self.raw.data, dump=True) or ""

    def __repr__(self) -> str:
        """Its line of ``ghrm decode`` (without the time): frame, direction, client, summary."""
        raw = self.raw
        arrow = {"to_rm": "->RM", "from_rm": "RM->"}.get(raw.direction.label, "??")
        client = "vm?" if raw.client_vmid == 0xFFFF else f"vm{raw.client_vmid:#x}"
        return f"frame {raw.frames[0]} {arrow} {client} {self.summary()}"

    def _repr_html_(self) -> str:
        """Jupyter: the field tree beside the hex dump, as Wireshark shows a packet."""
        from dissector.message_view import message_html

        return message_html(self)

    def to_json(self) -> dict[str, Any]:
        """The ``ghrm decode --format jsonl`` object (design.md 1.3): keep keys and meaning stable."""
        raw = self.raw
        return {
            "frame": raw.frames[0],
            "frames": list(raw.frames),
            "time": _time(raw.time_ns),
            "time_end": _time(raw.time_end_ns),
            "direction": raw.direction.label,
            "client_vmid": raw.client_vmid,
            "type": self.type_name,
            "seq": self.seq,
            "msg_id": self.msg_id,
            "msg_name": self.msg_name,
            "fragments": self.packet.fragments,
            "err_code": self.err_code,
            "err_name": self.err_name,
            "fields": self.fields,
            "malformed": self.malformed,
            # added after the contract keys (design.md 1.3)
            "time_ns": raw.time_ns,
        }


def decode_records(
    items: Iterable[Record | CaptureProblem], *, dialect: str = "rm"
) -> Iterator[DecodedMessage | CaptureProblem]:
    """Reassemble and wrap; capture problems pass through in place."""
    registry.get_dialect(dialect)  # fail early on a bad dialect name
    for item in reassemble(items):
        if isinstance(item, CaptureProblem):
            yield item
        else:
            yield DecodedMessage(item, dialect)


def decode_file(
    path: str, *, dialect: str = "rm", follow: bool = False, **options: Any
) -> Iterator[DecodedMessage | CaptureProblem]:
    """Read any supported capture or log (detected by content) and decode it, streaming."""
    from dissector.capture.detect import open_records

    yield from decode_records(open_records(path, follow=follow, **options), dialect=dialect)
