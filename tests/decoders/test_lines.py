"""``ghrm decode`` made a kind of message at a time (``decoders.lines``) prints what the streaming
path prints, byte for byte: jsonl (generated fields included) and text, on every bundled trace in
every dialect, and on generated pcap and pcapng captures holding every layout of every dialect
(well-formed, cut, grown, non-zero reserved fields, error replies), fragmented messages
interleaved across queues, continuations lost (given up by a new message, by the capture's end),
stray continuations and unknown times.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dissector import cli
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.decoded import decode_records
from dissector.decoders import compiled, lines
from dissector.protocol.dialects import DIALECTS
from dissector.protocol.wire import fragment
from tests.decoders.test_compiled import _layouts
from tests.strategies import struct_kwargs

TRACES = Path(__file__).resolve().parents[2] / "traces"
CAPTURES = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))
FORMATS = (["decode", "--format", "jsonl"], ["decode"])


def _run(argv: list[str]) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out=out, err=err)
    return out.getvalue(), err.getvalue(), code


def _both(argv: list[str], monkeypatch: pytest.MonkeyPatch, scapy: bool = False) -> tuple[tuple, tuple]:
    """(whole-capture output, streaming output) of one command line; ``scapy``: the streaming
    side decodes every message with Scapy."""
    used = []
    real = lines.decode_lines

    def spy(*args: object) -> object:
        got = real(*args)  # type: ignore[arg-type]
        used.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(lines, "decode_lines", spy)
        m.setattr(cli, "_HEAD", 5)  # text: the whole path takes over after 5 streamed messages
        whole = _run(argv)
    assert any(used) or not argv[-1].endswith((".pcap", ".pcapng")), "the whole-capture path was not taken"
    with monkeypatch.context() as m:
        m.setattr(lines, "decode_lines", lambda *a: None)
        if scapy:
            m.setattr(compiled, "decode_records", decode_records)
        streamed = _run(argv)
    return whole, streamed


@pytest.mark.parametrize("argv", FORMATS, ids=["jsonl", "text"])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_bundled_traces_print_what_the_streaming_path_prints(
    capture: Path, dialect: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, streamed = _both([*argv, "--dialect", dialect, str(capture)], monkeypatch)
    assert whole == streamed
    assert whole[0]


# --------------------------------------------------------------------------- generated captures
T0 = 1_700_000_000_000_000_000


def _header(msg_type: int, seq: int, msg_id: int, frags: int = 0) -> bytes:
    return struct.pack("<BBHI", 0x21, (frags << 2) | msg_type, seq, msg_id)


def _records(dialect: str, data: st.DataObject) -> list[Record]:
    """One message of every layout of ``dialect`` (some broken), then fragment trouble."""
    messages: list[tuple[Direction, int, bytes]] = []
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    for seq, (msg_type, msg_id, err, cls) in enumerate(_layouts(dialect)):
        payload = bytes(cls(**data.draw(struct_kwargs(cls.layout, max_list=3))))
        edit = rng.choice(["keep"] * 6 + ["cut", "grow", "reserved"])
        if edit == "cut" and payload:
            payload = payload[: rng.randrange(len(payload))]
        elif edit == "grow":
            payload += bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif edit == "reserved" and payload:  # a flipped byte: a reserved field may turn non-zero
            k = rng.randrange(len(payload))
            payload = payload[:k] + bytes([payload[k] ^ 0x40]) + payload[k + 1 :]
        if err is not None:
            payload = struct.pack("<I", err) + payload
        direction = Direction.TO_RM if msg_type == 1 else Direction.FROM_RM
        for part in fragment(msg_type, seq & 0xFFFF, msg_id, payload):
            messages.append((direction, rng.choice((3, 0x45, 0xFFFF)), part))
    # fragmented messages on two queues, interleaved; one loses a continuation (given up by the
    # next message on its queue), one is still waiting when the capture ends; a stray continuation
    long = bytes(range(256)) * 3
    a = fragment(1, 900, 0x51000012, long)
    b = fragment(1, 901, 0x51000012, long)
    messages += [(Direction.TO_RM, 7, a[0]), (Direction.TO_RM, 8, b[0]), (Direction.TO_RM, 7, a[1])]
    messages += [(Direction.TO_RM, 8, b[1]), (Direction.TO_RM, 7, _header(1, 902, 0x56000001) + bytes(4))]
    messages += [(Direction.TO_RM, 8, b[2]), (Direction.TO_RM, 8, b[3])]
    messages += [(Direction.FROM_RM, 9, _header(0, 5, 0x51000012, 2) + bytes(8))]  # stray continuation
    messages += [(Direction.TO_RM, 7, _header(1, 3, 0x56000004) + bytes(4))]
    messages += [(Direction.TO_RM, 10, a[0])]  # never finished
    out = []
    t = T0 + data.draw(st.sampled_from([0, 123_456_000, 123_456_789]))
    for n, (direction, client, payload) in enumerate(messages, start=1):
        t += rng.choice((1000, 1001, 250_000))
        time = None if rng.random() < 0.01 else t
        out.append(Record(n, time, direction, client, payload))
    return out


@pytest.mark.parametrize("suffix", [".pcap", ".pcapng"])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure shows its own draws; no shrinking
)
@given(data=st.data())
def test_generated_captures_of_every_layout_print_what_scapy_prints(
    dialect: str, suffix: str, data: st.DataObject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"every{suffix}"
    records = _records(dialect, data)
    if suffix == ".pcap":
        records = [
            r if r.time_ns is not None else Record(r.number, T0, r.direction, r.client_vmid, r.data)
            for r in records
        ]
    write_capture(path, records)
    for argv in FORMATS:
        whole, streamed = _both([*argv, "--dialect", dialect, str(path)], monkeypatch, scapy=True)
        assert whole == streamed


def _tail_layouts(dialect: str) -> list[tuple[int, int, int | None, lines._Tail]]:
    """(msg_type, msg_id, err_code, ``_Tail``) of every layout ``lines`` reads as integers then
    counted bytes."""
    out = []
    for msg_type, msg_id, err, _ in _layouts(dialect):
        role = lines._Kinds(dialect).role(msg_type, err or 0)
        tail = lines._Kinds(dialect).tail(role, msg_id)
        if tail is not None:
            out.append((msg_type, msg_id, err, tail))
    return out


def test_console_text_is_read_as_a_tail() -> None:
    ids = {msg_id for _, msg_id, _, _ in _tail_layouts("rm")}
    assert {compiled.names("rm").message_name(i) for i in ids} >= {"VM_CONSOLE_WRITE", "VM_CONSOLE_CHARS"}


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure shows its own draws; no shrinking
)
@given(data=st.data())
def test_tail_layouts_print_what_scapy_prints(
    dialect: str, data: st.DataObject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Integers then counted bytes (console text): any integers, any bytes (control, quote,
    backslash, high bytes), a count that is right, short or long, a payload cut or grown."""
    records = []
    for msg_type, msg_id, err, tail in _tail_layouts(dialect):
        for _ in range(data.draw(st.integers(6, 12))):  # more than _HEAD: the whole path is taken
            text = data.draw(
                st.binary(max_size=40) | st.sampled_from([b'a"b\\c\n', b"\x00\x7f\x80\xff\x1b["])
            )
            head = {
                name: data.draw(st.integers(0, 2 ** (8 * tail.dtype[name].itemsize) - 1))
                for name in tail.dtype.names
            }
            head[tail.length] = len(text) + data.draw(st.sampled_from([0, 0, 0, -1, 1, 7]))
            head[tail.length] %= 2 ** (8 * tail.dtype[tail.length].itemsize)
            payload = np.array([tuple(head[n] for n in tail.dtype.names)], tail.dtype).tobytes() + text
            payload = payload[: data.draw(st.sampled_from([len(payload)] * 5 + [0, 1, 3]))]
            body = (b"" if err is None else struct.pack("<I", err)) + payload
            direction = Direction.TO_RM if msg_type == 1 else Direction.FROM_RM
            records.append(
                Record(len(records) + 1, T0 + len(records), direction, 3, _header(msg_type, 7, msg_id) + body)
            )
    path = tmp_path / "tails.pcap"
    write_capture(path, records)
    for argv in FORMATS:
        whole, streamed = _both([*argv, "--dialect", dialect, str(path)], monkeypatch, scapy=True)
        assert whole == streamed


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_empty_payloads_of_every_layout_print_what_the_streaming_path_prints(
    dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty payload (a reply's: nothing after its code) of every layout, each role and error
    code: written as {} where the compiled decoder does so, else one at a time, as streamed."""
    records = []
    for n, (msg_type, msg_id, err, _) in enumerate(_layouts(dialect), start=1):
        for code in (err,) if err is None else (0, 5):
            body = b"" if code is None else struct.pack("<I", code)
            direction = Direction.TO_RM if msg_type == 1 else Direction.FROM_RM
            records.append(
                Record(len(records) + 1, T0 + n, direction, 3, _header(msg_type, n, msg_id) + body)
            )
    path = tmp_path / "empty.pcap"
    write_capture(path, records)
    for argv in FORMATS:
        whole, streamed = _both([*argv, "--dialect", dialect, str(path)], monkeypatch, scapy=True)
        assert whole == streamed


def test_emission_order_follows_the_reassembler(tmp_path: Path) -> None:
    """Messages come out when their last record arrives; one given up, before the record that
    gave it up; those waiting at the end, last."""
    long = bytes(600)
    a, b = fragment(1, 1, 0x51000012, long), fragment(1, 2, 0x51000012, long)
    single = _header(1, 3, 0x56000004) + bytes(4)
    parts = [(7, a[0]), (8, b[0]), (9, single), (7, a[1]), (8, b[1]), (7, single), (8, b[2]), (9, a[0])]
    path = tmp_path / "order.pcap"
    write_capture(path, [Record(n, T0 + n, Direction.TO_RM, q, d) for n, (q, d) in enumerate(parts, start=1)])
    got = lines.decode_lines(str(path), "rm", True)
    assert got is not None
    frames = [int(line.split(",", 1)[0].split(":")[1]) for chunk in got[2] for line in chunk]
    assert frames == [3, 1, 6, 2, 8]


def test_a_capture_that_cannot_be_read_whole_is_streamed(tmp_path: Path) -> None:
    assert lines.decode_lines(str(tmp_path / "missing.pcap"), "rm", True) is None
    assert lines.decode_lines("-", "rm", False) is None


def test_the_generated_fields_are_the_last_jsonl_keys() -> None:
    from dissector.filter import MESSAGE_KEYS

    assert MESSAGE_KEYS[-len(lines.GENERATED) :] == lines.GENERATED


def test_times_are_written_as_exact_time_writes_them() -> None:
    import numpy as np

    from dissector.decoded import ExactTime

    ns = np.array([0, 1, 999, 1000, 10**9, -1, -1000, -(10**9) - 5, 1767225600_000726719, 2**62], np.int64)
    ns = np.concatenate([ns, np.random.default_rng(1).integers(-(2**62), 2**62, 5000)])
    assert lines._time_texts(ns) == [ExactTime(int(t)).text for t in ns]


@pytest.mark.parametrize("argv", FORMATS, ids=["jsonl", "text"])
def test_stdin_is_streamed_once(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Stdin cannot be read twice: it streams, even past the text path's first messages (and
    its jsonl carries what came before, as it always did)."""
    capture = TRACES / "multi_queue.pcapng"

    def from_stdin() -> tuple[str, str, int]:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(capture.read_bytes())))
        return _run([*argv, "-"])

    whole, streamed = _both([*argv, str(capture)], monkeypatch)
    monkeypatch.setattr(cli, "_HEAD", 5)
    got = from_stdin()
    monkeypatch.setattr(lines, "decode_lines", lambda *a: None)
    assert got == from_stdin()
    if argv == ["decode"]:
        assert got == whole == streamed  # text lines do not depend on what comes later


def test_generated_texts_are_jsonl_line_s_for_any_rows() -> None:
    """``Generated`` writes each value as ``jsonl_line`` does (unknown as null), whatever rows it is asked."""
    import numpy as np

    from dissector.analysis.context import Exchange, _errno
    from dissector.decoded import jsonl_line

    rng = np.random.default_rng(3)
    n = 500
    frames = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 2**40, n))
    vm = np.where(rng.random(n) < 0.5, -1, rng.integers(0, 70, n))
    floats = rng.random(n) / 1000
    floats[rng.random(n) < 0.2] = np.nan
    floats[rng.random(n) < 0.05] = np.inf
    err = rng.choice([-1, 0, 1, 2, 5, 9, 0xFFFF], n)
    ex = Exchange(vm, frames, frames[::-1].copy(), floats, err)
    generated = lines.Generated(ex)
    rows = rng.permutation(n)[: n // 2]
    texts = generated.texts(rows)
    for k, row in enumerate(rows.tolist()):
        record = {
            "vm": None if vm[row] < 0 else int(vm[row]),
            "request_frame": None if frames[row] < 0 else int(frames[row]),
            "reply_frame": None if frames[n - 1 - row] < 0 else int(frames[n - 1 - row]),
            "latency": None if floats[row] != floats[row] else float(floats[row]),
            "errno": _errno(int(err[row])),
        }
        want = jsonl_line(record)[1:-1]
        got = "".join(f',"{name}":{t[k]}' for name, t in zip(lines.GENERATED, texts, strict=True))
        assert got == "," + want
        assert generated.tails(np.array([row])) == ["," + want]
    assert lines.jsonl_value(float("inf")) == jsonl_line({"v": float("inf")})[5:-1]


@st.composite
def _interleaved(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    """(queue, message-queue message) in capture order: messages of 0-3 continuations on a few
    queues, interleaved, some continuations lost or stray, some records cut short."""
    streams: list[list[bytes]] = [[] for _ in range(4)]
    for seq in range(draw(st.integers(1, 14))):
        size = draw(st.sampled_from([4, 300, 500, 700]))
        parts = fragment(1, seq, 0x51000012, bytes(size))
        if len(parts) > 1 and draw(st.booleans()):
            del parts[draw(st.integers(1, len(parts) - 1))]  # a continuation lost
        if draw(st.integers(0, 9)) == 0:
            parts.append(_header(0, seq, 0x51000012, 2) + bytes(8))  # stray continuation
        if draw(st.integers(0, 19)) == 0:
            parts.append(b"\x21\x01")  # shorter than a header
        streams[draw(st.integers(0, 3))].extend(parts)
    out = []
    while any(streams):
        q = draw(st.sampled_from([k for k, s in enumerate(streams) if s]))
        out.append((q, streams[q].pop(0)))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=_interleaved(), room=st.sampled_from([2, 3, 4096]), weight=st.sampled_from([1500, 3000, 16 << 20])
)
def test_emission_order_is_the_order_reassemble_yields(
    parts: list[tuple[int, bytes]], room: int, weight: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columnar decoder's ``emitted`` column orders the messages as ``reassemble`` yields
    them, messages given up for a new one, for room or for weight, or at the end included."""
    from dissector.capture import reassembly

    monkeypatch.setattr(reassembly, "MAX_IN_FLIGHT", room)  # small bounds: given up for room, weight
    monkeypatch.setattr(reassembly, "MAX_IN_FLIGHT_BYTES", weight)
    records = [Record(n, T0 + n, Direction.TO_RM, q, d) for n, (q, d) in enumerate(parts, start=1)]
    path = tmp_path / "order.pcap"
    write_capture(path, records)
    capture = lines.read_capture(str(path), "rm")
    assert capture is not None
    order = lines.emission_order(capture.cols)
    assert order is not None
    want = [m.frames[0] for m in reassembly.reassemble(records)]
    assert capture.cols.frame[order].tolist() == want
