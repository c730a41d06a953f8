"""The display-filter language (issue 13.3, 19.10): names from the layouts, frames, sets, limits."""

from __future__ import annotations

import pytest

from dissector.filter import MAX_DEPTH, MESSAGE_KEYS, Filter, FilterError, known_names, payload_field_names
from dissector.protocol.layouts import LAYOUTS

MSG = {
    "frame": 12,
    "frames": [12, 13],
    "type": "request",
    "msg_name": "MEM_LEND",
    "msg_id": 0x51000012,
    "err_code": None,
    "vm": 0x80,
    "fields": {
        "mem_handle": 7,
        "sgl": [{"ipa_base": 0x8000_0000, "size": 0x1000}, {"ipa_base": 0, "size": 5}],
    },
}


def test_known_names_come_from_the_layouts_and_the_jsonl_keys() -> None:
    names = set(known_names())
    assert set(MESSAGE_KEYS) <= names
    assert {"vm", "request_frame", "reply_frame", "latency", "errno", "time_ns"} <= names
    for layout in LAYOUTS.values():
        for struct in (layout.request, layout.reply, layout.notification):
            if struct is not None:
                assert {f.name for f in struct.walk() if f.name} <= payload_field_names()
    assert {"ipa_base", "perms", "mem_handle"} <= names  # list entries too


@pytest.mark.parametrize(
    ("expr", "keeps"),
    [
        ("frame == 13", True),  # a continuation record of the message
        ("frame == 14", False),
        ("frame in {12 71}", True),
        ("frame in {1, 2}", False),
        ("frame in {10..12}", True),
        ("size == 5", True),  # any SGL entry
        ("fields.mem_handle == 7 && vm == 0x80", True),
        ("msg_name == MEM_LEND and !(type == 'reply')", True),
        ("msg_id == 'MEM_LEND'", True),
        ("err_code", False),  # present? it is null
        ("err_code != 2", True),  # no value equals 2, also true when absent
        ("msg_name not in {VM_START VM_STOP}", True),
        ("type contains 'req'", True),
        ("mem_handle > 'x'", False),  # mismatched types are simply false
    ],
)
def test_filter_semantics(expr: str, keeps: bool) -> None:
    assert Filter(expr)(MSG) is keeps


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("bogus == 1", "unknown field 'bogus'"),
        ("vmd == 1", "closest: vmid"),
        ("msg_name == 'VM_STRAT'", "closest: VM_START"),
        ("-type == 1", "expected a field name"),
        ("vmid == -type", "minus sign applies only to a number"),
        ("vmid == client_vmid", "comparing two fields"),
        ("not " * (MAX_DEPTH + 1) + "frame", "nested more than"),
        ("frame in {1..9999999}", "range of more than"),
        ("frame ==", "unexpected end"),
        ("frame == 1 )", "unexpected ')'"),
        ("", "empty filter"),
        ("latency < 1e999", "not a number"),
        ("frame == 1 ; import os", "unexpected character ';'"),
    ],
)
def test_filter_errors_name_the_problem(expr: str, words: str) -> None:
    with pytest.raises(FilterError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Filter(expr)


def test_every_key_jsonl_prints_is_a_known_name() -> None:
    """The printable companions of byte arrays (``msg_text``) filter like any other field."""
    import io
    import json
    from pathlib import Path

    from dissector.cli import main

    out = io.StringIO()
    crash = Path(__file__).resolve().parents[1] / "traces" / "watchdog_crash.pcapng"
    assert main(["decode", "--format", "jsonl", str(crash)], out=out) == 0
    printed = {k for line in out.getvalue().splitlines() for k in json.loads(line)["fields"]}
    assert "msg_text" in printed
    assert printed <= set(known_names())
    kept = Filter('msg_text contains "panic"', "rm")
    assert any(kept(json.loads(line)) for line in out.getvalue().splitlines())


@pytest.mark.parametrize(
    ("expr", "status", "keeps"),
    [
        ('vm_status == "RUNNING"', 3, True),  # jsonl holds the number; the filter takes the name
        ("vm_status == RUNNING", 2, False),
        ("vm_status in {READY RUNNING}", 2, True),
        ('vm_status != "RUNNING"', 3, False),
        ("vm_status == 3", 3, True),
    ],
)
def test_enum_fields_compare_with_value_names(expr: str, status: int, keeps: bool) -> None:
    record = {"msg_name": "VM_STATUS", "fields": {"vmid": 0x80, "vm_status": status}}
    assert Filter(expr, "rm")(record) is keeps


def test_an_unknown_enum_value_is_an_error_naming_the_closest() -> None:
    with pytest.raises(FilterError, match="RUNNING"):
        Filter("vm_status == RUNING", "rm")
    # a dialect's own names: status 5 is SHUTDOWN in rm-2021 (it is LOAD in rm)
    assert Filter('vm_status == "SHUTDOWN"', "rm-2021")({"fields": {"vm_status": 5}})
