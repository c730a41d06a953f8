"""Properties of issue #7: garbage never raises, and damage never takes valid messages with it.

(a) Any byte string as a record: lenient decoding returns a message (malformed or not) and never
    raises; strict mode raises only ``MalformedMessage`` subclasses.
(b) Any mix of valid messages and corrupted records (as records, in pcap and pcapng files with
    damaged bytes between records, in kernel logs and text2pcap dumps with garbage lines):
    every valid message before and after the damage is still decoded, with its exact bytes.
(c) Build -> dissect -> build is ``tests/layers/test_roundtrip_all.py``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from hypothesis import assume, given
from hypothesis import strategies as st

from dissector.capture.detect import open_records
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture, write_hexlog
from dissector.decoded import DecodedMessage
from dissector.layers import NOTIFICATIONS, REPLIES, REQUESTS, RMHeader, RMReply, fragment
from dissector.protocol.wire import RM_MAX_MSG_PAYLOAD
from tests.fuzz._checks import check_message_bytes, check_record_bytes, decode_all
from tests.strategies import struct_kwargs

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
KINDS = [(1, REQUESTS), (2, REPLIES), (3, NOTIFICATIONS)]
CLASSES = [(t, msg_id, cls) for t, table in KINDS for msg_id, cls in sorted(table.items())]


# ----------------------------------------------------------------------------- (a)
@given(data=st.binary(max_size=600))
def test_any_bytes_as_a_message(data: bytes) -> None:
    check_message_bytes(data)


@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_capture_record(data: bytes) -> None:
    check_record_bytes(data)


@given(
    data=st.one_of(
        st.binary(max_size=300), st.binary(min_size=8, max_size=40).map(lambda b: b"\x21" + b[1:])
    ),
    direction=st.sampled_from(list(Direction)),
)
def test_any_record_decodes_to_exactly_one_message(data: bytes, direction: Direction) -> None:
    (msg,) = decode_all([Record(1, None, direction, 3, data)])
    assert msg.raw.data == data and msg.raw.frames == (1,)


# ----------------------------------------------------------------------------- (b)
@st.composite
def valid_messages(draw: st.DrawFn) -> bytes:
    """One complete, valid RM message of any payload class (up to RM's size limit)."""
    msg_type, msg_id, cls = draw(st.sampled_from(CLASSES))
    kwargs = draw(struct_kwargs(cls.layout))
    top = RMHeader(msg_type=msg_type, seq=draw(st.integers(0, 0xFFFF)), msg_id=msg_id)
    if msg_type == 2:
        top = top / RMReply(err_code=0)
    wire = bytes(top / cls(**kwargs))
    assume(len(wire) - 8 <= RM_MAX_MSG_PAYLOAD)
    return wire


def _header(msg_type: int, fragments: int, seq: int = 7, msg_id: int = 0x56000020, api: int = 0x21) -> bytes:
    return struct.pack("<BBHI", api, (fragments << 2) | msg_type, seq, msg_id)


corrupt_records = st.one_of(
    st.binary(max_size=300),  # anything
    st.binary(max_size=7),  # shorter than a header
    st.binary(max_size=40).map(lambda b: _header(0, 1) + b),  # stray continuation
    st.binary(max_size=232).map(lambda b: _header(2, 3) + b),  # first fragment, never continued
    st.binary(max_size=40).map(lambda b: _header(1, 63, api=0x12) + b),  # bad api, 63 fragments
    st.binary(min_size=241, max_size=400).map(lambda b: _header(3, 0) + b),  # oversize
)


@dataclass
class Valid:
    message: bytes
    direction: Direction
    vmid: int
    frames: tuple[int, ...] = ()


@st.composite
def damaged_sessions(draw: st.DrawFn) -> tuple[list[Record], list[Valid]]:
    """Valid messages (fragmented) with corrupted records between them and on other queues."""
    records: list[Record] = []
    valid: list[Valid] = []

    def add(data: bytes, direction: Direction, vmid: int) -> int:
        n = len(records) + 1
        records.append(Record(n, T0 + n * 1000, direction, vmid, data))
        return n

    def damage(max_size: int, vmid: int | None = None) -> None:
        for bad in draw(st.lists(corrupt_records, max_size=max_size)):
            direction = draw(st.sampled_from(list(Direction)))
            add(bad, direction, vmid if vmid is not None else draw(st.sampled_from([3, 4])))

    damage(3)
    for _ in range(draw(st.integers(1, 4))):
        v = Valid(draw(valid_messages()), draw(st.sampled_from([Direction.TO_RM, Direction.FROM_RM])), 3)
        frames = []
        for piece in fragment(v.message):
            frames.append(add(piece, v.direction, v.vmid))
            damage(1, vmid=99)  # another queue's damage, inside this message's fragments
        v.frames = tuple(frames)
        valid.append(v)
        damage(3)
    return records, valid


def _assert_survived(messages: list[DecodedMessage], valid: list[Valid]) -> None:
    by_frames = {m.raw.frames: m for m in messages}
    for v in valid:
        got = by_frames.get(v.frames)
        assert got is not None, f"valid message at frames {v.frames} lost; got {sorted(by_frames)}"
        assert got.raw.data == v.message
        assert got.problems == [], got.malformed
        assert got.raw.direction == v.direction and got.raw.client_vmid == v.vmid


@given(session=damaged_sessions())
def test_valid_messages_survive_corrupt_records(session: tuple[list[Record], list[Valid]]) -> None:
    records, valid = session
    _assert_survived(decode_all(records), valid)


@given(session=damaged_sessions(), fmt=st.sampled_from(["pcap", "pcapng"]))
def test_valid_messages_survive_in_capture_files(session: tuple[list[Record], list[Valid]], fmt: str) -> None:
    records, valid = session
    buf = io.BytesIO()
    write_capture(buf, records, fmt)
    messages = decode_all(open_records(io.BytesIO(buf.getvalue())))
    _assert_survived(messages, valid)


def _pcap_bytes_damage(size: int) -> bytes:
    """A record header claiming 4 GB, then ``size`` zero bytes."""
    return struct.pack("<IIII", 1_767_225_600, 0, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(size)


def _pcapng_bytes_damage(size: int) -> bytes:
    """An EPB whose trailing length disagrees with its leading one."""
    body = bytes(size * 4)
    return struct.pack("<II", 6, len(body) + 12) + body + struct.pack("<I", 12)


def _split(blob: bytes, fmt: str) -> tuple[bytes, list[bytes]]:
    """A written capture as (file header, [record or block, ...])."""
    out = []
    if fmt == "pcap":
        off = 24
        while off < len(blob):
            caplen = struct.unpack_from("<I", blob, off + 8)[0]
            out.append(blob[off : off + 16 + caplen])
            off += 16 + caplen
        return blob[:24], out
    off = first = struct.unpack_from("<I", blob, 4)[0]  # after the section header block
    while off < len(blob):
        blen = struct.unpack_from("<I", blob, off + 4)[0]
        out.append(blob[off : off + blen])
        off += blen
    return blob[:first], out


@given(
    session=damaged_sessions(),
    fmt=st.sampled_from(["pcap", "pcapng"]),
    where=st.dictionaries(st.floats(0, 1), st.integers(0, 64), min_size=1, max_size=3),
)
def test_valid_messages_survive_damaged_bytes_between_records(
    session: tuple[list[Record], list[Valid]], fmt: str, where: dict[float, int]
) -> None:
    """Garbage bytes spliced in between records: the reader resynchronises, nothing valid is lost."""
    records, valid = session
    buf = io.BytesIO()
    write_capture(buf, records, fmt)
    head, chunks = _split(buf.getvalue(), fmt)
    damage = {int(f * len(chunks)): size for f, size in where.items()}
    blob = bytearray(head)
    for i, chunk in enumerate(chunks):
        if i in damage:
            blob += _pcap_bytes_damage(damage[i]) if fmt == "pcap" else _pcapng_bytes_damage(damage[i])
        blob += chunk
    if len(chunks) in damage:
        blob += _pcap_bytes_damage(damage[len(chunks)]) if fmt == "pcap" else _pcapng_bytes_damage(0)
    items = list(open_records(io.BytesIO(bytes(blob))))
    assert any(not isinstance(i, Record) for i in items), "the damage went unreported"
    # frame numbers shift past a skipped bogus record: map records back by their unique times
    number = {r.time_ns: r.number for r in records}
    kept = [i for i in items if isinstance(i, Record)]
    renumbered = [Record(number[k.time_ns], k.time_ns, k.direction, k.client_vmid, k.data) for k in kept]
    _assert_survived(decode_all(renumbered), valid)


# ----------------------------------------------------------------------------- text logs
garbage_log_lines = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=80).filter(
        lambda s: "rm_" not in s and "TX" not in s and "RX" not in s and "rejected" not in s
    ),
    st.sampled_from(
        [
            "[    5.000000] gh_rm_recv: 00000000: 21 zz 00",
            "[    5.000000] gh_rm_recv: 00000013: 01 02",
            "[    5.000000] gh_rm_recv: 0000001: 01 02",
            "[    5.000000] gh_rm_call TX msg_id: 56000002\n[    5.000000] gh_rm_call TX: 00000000: 01 02",
            "[    5.000000] gh_rm_call RX: 00000000: 01 02 03",
            "[    5.000000] gh_rm_call TX msg_id: 56000001",
            "RM rejected message 56000004. Error: 2",
            "gh_rm_recv: not even a row",
        ]
    ),
)


@given(session=damaged_sessions(), garbage=st.lists(st.lists(garbage_log_lines, max_size=3), max_size=6))
def test_valid_messages_survive_garbage_lines_in_a_kernel_log(
    session: tuple[list[Record], list[Valid]], garbage: list[list[str]]
) -> None:
    _records, valid = session
    text = io.StringIO()
    expected = []
    for i, v in enumerate(valid):
        if v.direction is Direction.TO_RM and v.message[1] & 3 != 1:
            continue  # the driver logs only requests to the RM; nothing to look for
        for line in garbage[i] if i < len(garbage) else []:
            text.write(line + "\n")
        pieces = [
            Record(1, T0 + i, v.direction, v.vmid, p) for p in fragment(v.message)
        ]  # one unit: its dump(s)
        write_hexlog(text, pieces)
        expected.append(v)
    items = list(open_records(io.BytesIO(text.getvalue().encode()), fmt="hexlog"))
    messages = decode_all(items)
    remaining = list(messages)
    for v in expected:
        for m in remaining:
            data = m.raw.data
            same = data == v.message if v.direction is Direction.FROM_RM else data[4:] == v.message[4:]
            if same and m.raw.direction == v.direction:
                remaining = remaining[remaining.index(m) + 1 :]
                break
        else:
            raise AssertionError(f"valid {v.direction.label} message {v.message[:16].hex()} lost")


garbage_dump_lines = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=60).filter(
        lambda s: not s.strip()[:1].isalnum()
    ),
    st.sampled_from(["# a comment", "I yesterday", "O", "0000  01", "0000  zz 01", "I 1.5", "hello world"]),
)


def _text2pcap(record: Record) -> str:
    cap = struct.pack("<BBH", 1, int(record.direction), record.client_vmid) + record.data
    rows = [f"{off:04x}  {cap[off : off + 16].hex(' ')}" for off in range(0, len(cap), 16)]
    return "\n".join(["I" if record.direction is Direction.FROM_RM else "O", *rows]) + "\n"


@given(session=damaged_sessions(), garbage=st.lists(st.lists(garbage_dump_lines, max_size=3), max_size=8))
def test_valid_messages_survive_garbage_lines_in_a_text2pcap_dump(
    session: tuple[list[Record], list[Valid]], garbage: list[list[str]]
) -> None:
    records, valid = session
    out = []
    for i, r in enumerate(records):
        out += garbage[i] if i < len(garbage) else []
        out.append(_text2pcap(r).rstrip("\n"))
    items = list(open_records(io.BytesIO(("\n".join(out) + "\n").encode()), fmt="text2pcap"))
    kept = [i for i in items if isinstance(i, Record)]
    wanted = [r.data for r in records]
    got = [r.data for r in kept]
    it = iter(got)
    assert all(any(g == w for g in it) for w in wanted), "a record of the dump was lost"
    renumbered = []
    for r in kept:  # the garbage packets get numbers too; map the real ones back to theirs
        renumbered.append(Record(len(renumbered) + 1, None, r.direction, r.client_vmid, r.data))
    by_data = [m.raw.data for m in decode_all(renumbered)]
    for v in valid:
        assert v.message in by_data
