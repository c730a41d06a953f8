"""The malformed corpus: it matches its generator byte for byte, and every file reads as expected.

Each case is checked three ways: ``open_records`` (format, record count, no exception beyond a
clear ``UnsupportedCapture``), ``decode_file`` (messages, malformations and capture problems in
order, against ``corpus/expected.json``) and ``ghrm decode --format jsonl`` (exit status, one
JSON line per message, one warning per problem).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from dissector.capture.detect import open_records
from dissector.capture.errors import UnsupportedCapture
from dissector.capture.record import CaptureProblem, Record
from dissector.cli import main
from dissector.decoded import DecodedMessage, decode_file
from tests.robustness import make_corpus

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED: list[dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
MESSAGE_KEYS = ("type", "msg_name", "seq", "direction", "client_vmid", "err_name", "fragments")


def test_corpus_is_what_the_generator_writes() -> None:
    built = make_corpus.build()
    on_disk = {p.name: p.read_bytes() for p in CORPUS.iterdir() if p.is_file()}
    assert sorted(on_disk) == sorted(built), "run python tests/robustness/make_corpus.py"
    for name, data in built.items():
        assert on_disk[name] == data, f"{name} differs from make_corpus.py; regenerate it"


def test_corpus_covers_the_issue() -> None:
    """Every fault family of issue #7 and of the capture/reassembly issue has a case."""
    names = {case["file"] for case in EXPECTED}
    for needle in (
        "truncated", "4gb", "caplen_gt_len", "zero_length", "short_message", "long_message",
        "linktype", "not_multiple_of_4", "below_12", "bad_trailer", "nonhex", "odd_digits",
        "missing_continuation", "stray_continuation", "new_message_midway", "fragments_63",
        "mismatched_continuation", "garbage_62", "acl_count_overrun", "negative_sizes",
        "exit_reason_oversize", "api_variants", "gzip",
    ):  # fmt: skip
        assert any(needle in name for name in names), needle


def _ids(case: dict[str, Any]) -> str:
    return case["file"]


@pytest.mark.parametrize("case", EXPECTED, ids=_ids)
def test_open_records(case: dict[str, Any]) -> None:
    path = CORPUS / case["file"]
    if case["error"] is not None:
        with pytest.raises(UnsupportedCapture, match=None) as info:
            open_records(path)
        assert case["error"] in str(info.value)
        return
    with open_records(path) as stream:
        assert stream.format == case["format"]
        items = list(stream)
    assert sum(isinstance(i, Record) for i in items) == case["records"]


def _check_message(got: DecodedMessage, want: dict[str, Any], where: str) -> None:
    record = got.to_json()
    assert record["frames"] == want["frames"], where
    for key in MESSAGE_KEYS:
        if key in want:
            assert record[key] == want[key], f"{where}: {key}"
    for key, value in want.get("fields", {}).items():
        assert record["fields"].get(key) == value, f"{where}: fields.{key} in {record['fields']}"
    malformed = want["malformed"]
    if malformed is None:
        assert record["malformed"] is None, where
        return
    assert record["malformed"] is not None, f"{where}: expected malformed"
    assert sorted({p.kind for p in got.problems}) == malformed["kinds"], f"{where}: {record['malformed']}"
    for text in malformed["contains"]:
        assert text in record["malformed"], f"{where}: {text!r} not in {record['malformed']!r}"


@pytest.mark.parametrize("case", EXPECTED, ids=_ids)
def test_decode_file(case: dict[str, Any]) -> None:
    path = str(CORPUS / case["file"])
    if case["error"] is not None:
        with pytest.raises(UnsupportedCapture):
            list(decode_file(path))
        return
    items = list(decode_file(path))
    messages = [i for i in items if isinstance(i, DecodedMessage)]
    problems = [i for i in items if isinstance(i, CaptureProblem)]
    got_frames = [m.raw.frames for m in messages]
    assert len(messages) == len(case["messages"]), f"messages: {got_frames}"
    for n, (got, want) in enumerate(zip(messages, case["messages"], strict=True)):
        _check_message(got, want, f"{case['file']} message {n + 1}")
    reasons = [p.reason for p in problems]
    assert len(problems) == len(case["problems"]), reasons
    for got_p, want_p in zip(problems, case["problems"], strict=True):
        assert want_p["contains"] in got_p.reason, reasons
        assert got_p.fatal == want_p["fatal"], got_p


@pytest.mark.parametrize("case", EXPECTED, ids=_ids)
def test_cli_decode_jsonl(case: dict[str, Any]) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["decode", "--format", "jsonl", str(CORPUS / case["file"])], out, err)
    assert code == case["exit"], err.getvalue()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(case["messages"])
    assert [json.loads(line)["frames"] for line in lines] == [m["frames"] for m in case["messages"]]
    warnings = [line for line in err.getvalue().splitlines() if "warning:" in line]
    assert len(warnings) == len(case["problems"])
    if case["error"] is not None:
        assert case["error"] in err.getvalue()
    assert "Traceback" not in err.getvalue()
