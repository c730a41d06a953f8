"""Fuzz target: the display-filter language (``ghrm decode -Y``).

Promises checked: compiling any text either succeeds or raises ``FilterError`` (a usage error,
exit status 2), never anything else; a compiled filter evaluates every message to a bool and
never raises, whatever the types of the message's values.
"""

from __future__ import annotations

from _harness import instrumented, run

with instrumented(__name__):
    from dissector.filter import MAX_FILTER_CHARS, Filter, FilterError

MESSAGES = (
    {"frame": 12, "frames": [12, 13], "type": "request", "msg_name": "VM_START", "msg_id": 0x56000004,
     "err_code": None, "fields": {"vmid": 0x80, "sgl": [{"ipa_base": 1 << 40, "size": 4096}]}},
    {"frame": 1, "frames": [1], "type": "reply", "msg_name": "VM_ALLOCATE", "err_code": 2,
     "err_name": "NORESOURCE", "fields": {"data": "00ff"}, "malformed": "cut", "latency": 0.5},
    {"frame": None, "frames": [], "fields": None, "time": float("nan")},
    {},
)  # fmt: skip

DICTIONARY = (
    b"frame", b"msg_name", b"err_code", b"vmid", b"size", b"fields.", b"==", b"!=", b"<=", b" in ",
    b" not in ", b"{", b"}", b"..", b" and ", b" or ", b"not ", b"!", b"&&", b"||", b"(", b")",
    b'"VM_START"', b"0x80", b"-", b"contains", b"1e308", b"'", b"\\",
)  # fmt: skip


def seeds() -> list[bytes]:
    """Filters a user writes, and ones an attacker does."""
    return [
        b'msg_name == "VM_START" and err_code != 0',
        b"frame in {12 71}",
        b"frame in {1..20} || !(type == 'reply')",
        b"size >= 0x1000 and fields.vmid == 128",
        b"-type == 1",
        b"not " * 200 + b"frame",
        b"(" * 100 + b"frame" + b")" * 100,
        b"__import__('os').system('true')",
        b"msg_name in {" + b" ".join(b"VM_START" for _ in range(50)) + b"}",
        b"\xff\xfe frame",
    ]


def test_one_input(data: bytes) -> None:
    """Compile ``data`` as a filter; evaluate it on messages of every shape."""
    text = data[: MAX_FILTER_CHARS + 16].decode("utf-8", "surrogateescape")
    try:
        keep = Filter(text)
    except FilterError as exc:
        assert str(exc)
        return
    for message in MESSAGES:
        assert keep(message) in (True, False)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
