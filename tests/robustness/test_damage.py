"""Random damage: readers never raise after detection, always end, and keep record order."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from dissector.capture.errors import UnsupportedCapture
from dissector.capture.hexlog import read_hexlog
from dissector.capture.pcap import read_pcap
from dissector.capture.pcapng import read_pcapng
from dissector.capture.record import CaptureProblem, Record
from dissector.capture.text2pcap import read_text2pcap
from tests.capture.capbytes import (
    ALLOC_REP,
    ALLOC_REQ,
    CONFIG_IMAGE_REQ,
    STATUS_NOTIF,
    T0,
    cap,
    epb,
    idb,
    nrb,
    pcap_file,
    shb,
    spb,
    upper_pdu,
)

MSGS = [ALLOC_REQ, ALLOC_REP, STATUS_NOTIF, CONFIG_IMAGE_REQ]
PCAPNG = (
    shb()
    + idb(147, "a", 9)
    + idb(252, "u", 6)
    + b"".join(epb(0, T0 * 10**9 + i, cap(MSGS[i % 4]), flags=1) for i in range(6))
    + b"".join(epb(1, T0 * 10**6 + i, upper_pdu("gunyah_rm", cap(MSGS[i % 4])), flags=2) for i in range(6))
    + spb(cap(ALLOC_REQ))
    + nrb()
)
PCAP = pcap_file([(T0 + i, i, cap(MSGS[i % 4], 1 + i % 2, 3)) for i in range(12)])
HEXLOG = (
    "[    1.000000] gh_rm_call TX msg_id: 56000009\n"
    "[    1.000000] gh_rm_call TX: 00000000: 80 00 00 00 34 12 00 00 00 00 00 00 00 00 00 00\n"
    "[    1.000000] gh_rm_call TX: 00000010: 00 00 00 00\n"
    "[    1.000100] gh_rm_recv: 00000000: 21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00\n"
    "[    1.000200] gh_rm_recv: 00000000: 21 03 10 00 08 00 10 56 80 00 00 00 03 00 00 00\n"
    "[    1.000300] RM rejected message 56000004. Error: 2\n"
)
TEXT2PCAP = (
    "I 1.5\n0000  01 02 03 00 21 02 01 00 01 00 00 56 00 00 00 00   ....!......V....\n0010  80 00 00 00\n"
)

edits = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 2), st.binary(min_size=1, max_size=12)), min_size=1, max_size=6
)


def damage(data: bytes, ops: list[tuple[float, int, bytes]]) -> bytes:
    d = bytearray(data)
    for where, op, blob in ops:
        i = int(where * (len(d) - 1)) if d else 0
        if op == 0:
            d[i : i + len(blob)] = blob  # overwrite
        elif op == 1:
            del d[i : i + len(blob)]  # delete
        else:
            d[i:i] = blob  # insert
    return bytes(d)


def check(items: list) -> None:
    nums = [i.number for i in items if isinstance(i, Record)]
    assert nums == sorted(nums) and len(set(nums)) == len(nums)
    assert all(isinstance(i, Record | CaptureProblem) for i in items)
    assert sum(1 for i in items if isinstance(i, CaptureProblem) and i.fatal) <= 1


@given(ops=edits)
def test_binary_readers_survive_damage(ops: list[tuple[float, int, bytes]]) -> None:
    for blob, reader in ((PCAPNG, read_pcapng), (PCAP, read_pcap)):
        bad = damage(blob, ops)
        try:
            items = list(reader(io.BytesIO(bad), "f"))
        except UnsupportedCapture:
            assert bad[:24] != blob[:24]  # only a damaged magic or pcap file header may raise
            continue
        check(items)


@given(ops=edits)
def test_text_readers_survive_damage(ops: list[tuple[float, int, bytes]]) -> None:
    for text, reader in ((HEXLOG, read_hexlog), (TEXT2PCAP, read_text2pcap)):
        bad = damage(text.encode(), ops).decode("utf-8", "replace")
        check(list(reader(io.StringIO(bad), "f")))
