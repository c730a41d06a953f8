"""The compiled decoder gives the Scapy view's output, byte for byte.

Compared per message: the jsonl line (``to_json``) and the one-line summary, on every bundled
trace in every dialect, on messages built from every layout of every dialect (well-formed, cut
short, with trailing bytes, error replies), and through ``ghrm decode`` itself (text, jsonl,
``-Y``) against the same command run on the Scapy view.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector import cli
from dissector.capture.detect import open_records
from dissector.capture.reassembly import RawMessage
from dissector.capture.record import Direction, Record
from dissector.decoded import DecodedMessage, decode_records, jsonl_line
from dissector.decoders import compiled
from dissector.layers.dispatch import tables
from dissector.protocol.codec import encode_payload
from dissector.protocol.dialects import DIALECTS
from tests.strategies import struct_kwargs

TRACES = Path(__file__).resolve().parents[2] / "traces"
CAPTURES = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))


def _views(msg: DecodedMessage | compiled.CompiledMessage) -> tuple[str, str]:
    return jsonl_line(msg.to_json()), msg.summary()


def _compare(raws: list[RawMessage], dialect: str) -> int:
    """Assert both views agree on every message; return how many the compiled steps decoded."""
    done = 0
    for raw in raws:
        fast = compiled.decode_message(raw, dialect)
        assert _views(fast) == _views(DecodedMessage(raw, dialect)), raw.data.hex()
        done += isinstance(fast, compiled.CompiledMessage)
    return done


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_bundled_traces_decode_identically(capture: Path, dialect: str) -> None:
    raws = [m.raw for m in decode_records(open_records(str(capture)), dialect=dialect) if hasattr(m, "raw")]
    done = _compare(raws, dialect)
    assert done > 0
    if capture.name == "single_vm_clean.pcapng":
        assert done == len(raws)  # a clean capture never needs Scapy


def _message(msg_type: int, msg_id: int, payload: bytes, frames: tuple[int, ...] = (1,)) -> RawMessage:
    frags = 0 if len(payload) <= 232 else -(-len(payload) // 232) - 1
    data = struct.pack("<BBHI", 0x21, (frags << 2) | msg_type, 7, msg_id) + payload
    if frags:
        frames = tuple(range(1, frags + 2))
    return RawMessage(
        frames, 1_700_000_000_123_456_000, 1_700_000_000_123_456_000, Direction.TO_RM, 0x45, data
    )


def _layouts(dialect: str) -> list[tuple[int, int, int | None, type]]:
    """(msg_type, msg_id, err_code, Scapy class) of every payload layout of ``dialect``."""
    t = tables(dialect)
    out = [(1, m, None, c) for m, c in sorted(t.requests.items())]
    out += [(3, m, None, c) for m, c in sorted(t.notifications.items())]
    out += [(2, m, 0, c) for m, c in sorted(t.replies.items())]
    out += [(2, m, 5, c) for m, c in sorted(t.error_replies.items())]
    return out


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_every_layout_decodes_identically(dialect: str, data: st.DataObject) -> None:
    """Each example builds one message of every layout of the dialect, then maybe breaks it."""
    raws = []
    for msg_type, msg_id, err, cls in _layouts(dialect):
        payload = bytes(cls(**data.draw(struct_kwargs(cls.layout, max_list=3))))
        edit = data.draw(st.sampled_from(["keep", "keep", "keep", "cut", "grow"]))
        if edit == "cut" and payload:
            payload = payload[: data.draw(st.integers(0, len(payload) - 1))]
        elif edit == "grow":
            payload += data.draw(st.binary(min_size=1, max_size=6))
        if err is not None:
            payload = struct.pack("<I", err) + payload
        raws.append(_message(msg_type, msg_id, payload))
    done = _compare(raws, dialect)
    assert done >= len(raws) // 2  # most are well-formed: decoded without Scapy


def test_long_lists_reassembled_from_fragments_decode_identically() -> None:
    """A message long enough to need continuations (an SGL of 40 entries) is decoded by the steps."""
    values = {"sgl": [(i * 4096, 4096) for i in range(40)], "acl": [{"vmid": 0x80, "rights": 7}]}
    payload = encode_payload("MEM_LEND", "request", values)
    raw = _message(1, 0x51000012, payload)
    assert len(raw.data) > 240
    assert _compare([raw], "rm") == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"\x21", bytes(7), bytes.fromhex("2101070004000056"), bytes.fromhex("11010700040000568000")],
    ids=["empty", "one byte", "seven", "empty VM_START", "bad api"],
)
def test_broken_headers_go_to_scapy(data: bytes) -> None:
    raw = RawMessage((1,), None, None, Direction.UNKNOWN, 0xFFFF, data)
    fast = compiled.decode_message(raw)
    assert isinstance(fast, DecodedMessage)
    assert fast.malformed


@pytest.mark.parametrize(
    "argv",
    [
        ["decode"],
        ["decode", "--format", "jsonl"],
        ["decode", "-Y", "err_code != 0 or latency > 0.001"],
        ["decode", "--format", "jsonl", "-Y", 'vm == 0x80 and type == "request" or size > 4096'],
        ["decode", "--dialect", "linux-v16", "--format", "jsonl", "-c", "40"],
    ],
    ids=["text", "jsonl", "filter text", "filter jsonl", "dialect"],
)
@pytest.mark.parametrize("capture", ["faults_mix.pcapng", "malformed_truncated.pcapng", "dmesg_hexlog.log"])
def test_ghrm_decode_output_is_the_scapy_output(
    argv: list[str], capture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> str:
        out, err = io.StringIO(), io.StringIO()
        assert cli.main([*argv, str(TRACES / capture)], out=out, err=err) == 0
        return out.getvalue()

    fast = run()
    monkeypatch.setattr(compiled, "decode_records", decode_records)
    assert fast == run()
    assert fast  # something was printed


def test_records_with_capture_problems_pass_through() -> None:
    records = [Record(1, 10**9, Direction.TO_RM, 3, bytes.fromhex("2101070004000056800000"))]
    out = list(compiled.decode_records(records))
    assert len(out) == 1 and out[0].to_json()["fields"] == {"vmid": 0x80}


def test_garbage_ids_and_codes_do_not_grow_the_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids and error codes without a layout or a name are not kept: a hostile capture holds
    millions of distinct ones."""
    monkeypatch.setattr(compiled, "_CACHE_LIMIT", 100)
    d = compiled._Dialect("rm")
    monkeypatch.setattr(compiled, "_dialect", lambda name: d)
    for i in range(500):
        data = struct.pack("<BBHII", 0x21, 2, 1, 0x7F000000 + i, 0x1000 + i) + b"xy"
        view = compiled.decode_message(RawMessage((i + 1,), None, None, Direction.UNKNOWN, 3, data))
        assert view.to_json()["fields"] == {"data": "7879"}
    assert (len(d._payloads), len(d._names), len(d._errors)) == (0, 100, 100)
