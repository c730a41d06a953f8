"""Issue 19.1: list decoding is linear in memory, with no per-entry copy of the rest of the payload.

Measured with ``tracemalloc`` (peak bytes allocated while dissecting and exporting one reply),
never with a clock: a list twice as long must cost about twice as much, and each entry a
bounded number of bytes. The payloads are far longer than RM sends (a record can be up to
64 KiB in a pcap), which is exactly the input that used to take 600 MB.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from dissector.layers import dissect, fields_of, malformations, payload_layer
from dissector.layers.entries import EntryList


def _get_id_reply(n: int) -> bytes:
    """VM_GET_ID reply: n variable-size NAME entries {u8 type; u8 res; u16 size; "vm-42" + 3 pad}."""
    entry = struct.pack("<BBH", 2, 0, 5) + b"vm-42\0\0\0"
    return struct.pack("<BBHI", 0x21, 2, 1, 0x56000010) + struct.pack("<II", 0, n) + entry * n


def _get_peers_reply(n: int) -> bytes:
    """VM_GET_PEERS reply: n fixed-size u32 vmid entries."""
    body = b"".join(struct.pack("<I", 0x80 + i % 64) for i in range(n))
    return struct.pack("<BBHI", 0x21, 2, 1, 0x56000025) + struct.pack("<II", 0, n) + body


def _peak(data: bytes) -> tuple[int, int]:
    """Peak bytes allocated while dissecting and exporting ``data``, and the entries seen."""
    tracemalloc.start()
    try:
        pkt = dissect(data)
        entries = fields_of(payload_layer(pkt))["entries"]
        assert malformations(pkt) == []
        count = len(entries)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, count


@pytest.mark.parametrize(
    ("build", "per_entry_limit"),
    [(_get_id_reply, 4096), (_get_peers_reply, 600)],
    ids=["variable-size VM_GET_ID", "fixed-size VM_GET_PEERS"],
)
def test_list_memory_is_linear_and_bounded_per_entry(build, per_entry_limit: int) -> None:
    dissect(build(16))  # build the classes and caches outside the measurement
    small_n, large_n = 1000, 4000
    small, got_small = _peak(build(small_n))
    large, got_large = _peak(build(large_n))
    assert (got_small, got_large) == (small_n, large_n)
    # linear: four times the entries cost about four times the memory (quadratic would be 16x)
    assert large < 5 * small, (small, large)
    assert large / large_n < per_entry_limit, large / large_n


def test_fixed_size_entries_are_made_into_packets_only_when_looked_at() -> None:
    pkt = dissect(_get_peers_reply(1000))
    entries = payload_layer(pkt).entries
    assert isinstance(entries, EntryList) and len(entries) == 1000
    assert entries[3].vmid == 0x83 and entries[-1].vmid == 0x80 + 999 % 64
    assert [e.vmid for e in entries[:2]] == [0x80, 0x81]
    assert bytes(pkt) == _get_peers_reply(1000)


def test_editing_a_lazy_entry_rebuilds_the_packet() -> None:
    data = _get_peers_reply(3)
    pkt = dissect(data)
    layer = payload_layer(pkt)
    layer.entries[1].vmid = 0x99
    assert bytes(pkt) == data[:20] + struct.pack("<I", 0x99) + data[24:]
    layer.entries.append(type(layer.entries[0])(vmid=0x42))
    assert bytes(pkt).endswith(struct.pack("<I", 0x42))


def test_memory_error_is_not_turned_into_raw_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running out of memory is not a malformed message: it must reach the caller."""
    from dissector.layers import base

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(base.RMArrayField, "getfield", no_memory)
    with pytest.raises(MemoryError):
        dissect(_get_peers_reply(4))
