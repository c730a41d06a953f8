"""End-to-end runs of ``ghrm decode`` and ``ghrm convert`` on captures built here."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture, write_hexlog
from dissector.cli import main
from dissector.layers import fragment

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns

JSON_KEYS = [
    "frame", "frames", "time", "time_end", "direction", "client_vmid", "type", "seq", "msg_id",
    "msg_name", "fragments", "err_code", "err_name", "fields", "malformed",
]  # fmt: skip


def _hyp_resources_reply(seq: int, n: int) -> bytes:
    entries = b"".join(
        struct.pack("<BBHIIQIIQQ", 4, 0, 0x80, 0x10 + i, i, 0x1000 + i, 0, 0, 0, 0) for i in range(n)
    )
    return struct.pack("<BBHI", 0x21, 2, seq, 0x56000020) + struct.pack("<II", 0, n) + entries


def _session() -> list[Record]:
    """A short host session: ALLOCATE, START failing with NORESOURCE, a 2-fragment reply."""
    msgs = [
        (Direction.TO_RM, "21 01 01 00 01 00 00 56 00 00 00 00"),
        (Direction.FROM_RM, "21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00"),
        (Direction.TO_RM, "21 01 02 00 20 00 00 56 80 00 00 00"),
        (Direction.FROM_RM, _hyp_resources_reply(2, 6).hex()),
        (Direction.TO_RM, "21 01 03 00 04 00 00 56 80 00 00 00"),
        (Direction.FROM_RM, "21 02 03 00 04 00 00 56 02 00 00 00"),
        (Direction.FROM_RM, "21 03 10 00 08 00 10 56 80 00 00 00 08 00 00 00"),
    ]
    records: list[Record] = []
    for direction, hexstr in msgs:
        for piece in fragment(bytes.fromhex(hexstr)):
            n = len(records) + 1
            records.append(Record(n, T0 + n * 1_000_000, direction, 3, piece))
    return records


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def pcapng(tmp_path: Path) -> Path:
    path = tmp_path / "session.pcapng"
    write_capture(path, _session())
    return path


def test_text_lines_read_like_tshark(pcapng: Path):
    code, out, err = _run("decode", str(pcapng))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 7  # 8 records, one 2-fragment reply
    assert lines[0].split() == [
        "1",
        "0.000000",
        "->RM",
        "vm0x3",
        "Request",
        "VM_ALLOCATE",
        "seq=1",
        "vmid=0x0",
    ]
    assert "Reply VM_START seq=3 err=NORESOURCE" in lines[5]
    assert "Notification VM_STATUS seq=16 vmid=0x80 vm_status=INIT_FAILED" in lines[6]


def test_jsonl_follows_the_contract(pcapng: Path):
    code, out, _ = _run("decode", "--format", "jsonl", str(pcapng))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 7
    assert all(list(row)[: len(JSON_KEYS)] == JSON_KEYS for row in rows)  # contract keys first
    generated = ["vm", "request_frame", "reply_frame", "latency", "errno"]  # then design.md 1.3 additions
    assert all(list(row)[-len(generated) :] == generated for row in rows)
    hyp = rows[3]
    assert hyp["frames"] == [4, 5] and hyp["fragments"] == 1 and hyp["type"] == "reply"
    assert hyp["fields"]["n_entries"] == 6 and len(hyp["fields"]["entries"]) == 6
    assert hyp["fields"]["entries"][2] == {
        "type": 4, "partner_vmid": 0x80, "resource_handle": 0x12, "resource_label": 2,
        "cap_id": 0x1002, "virq_handle": 0, "virq": 0, "base": 0, "size": 0,
    }  # fmt: skip
    assert hyp["time"] == pytest.approx((T0 + 4_000_000) / 1e9)
    assert hyp["time_end"] == pytest.approx((T0 + 5_000_000) / 1e9)
    start_reply = rows[5]
    assert (start_reply["err_code"], start_reply["err_name"], start_reply["malformed"]) == (
        2,
        "NORESOURCE",
        None,
    )
    assert rows[0]["err_code"] is None and rows[0]["direction"] == "to_rm" and rows[0]["client_vmid"] == 3


def test_filter_accepts_linux_aliases_and_counts(pcapng: Path):
    _, out, _ = _run("decode", "--format", "jsonl", "-Y", 'msg_name == "VM_ALLOC_VMID"', str(pcapng))
    assert [json.loads(x)["type"] for x in out.splitlines()] == ["request", "reply"]
    _, out, _ = _run("decode", "-Y", 'err_name == "GH_RM_ERROR_NORESOURCE" and vmid != 1', str(pcapng))
    assert len(out.splitlines()) == 1 and "VM_START" in out
    _, out, _ = _run("decode", "-Y", "vmid == 0x80 and type == 'request'", "-c", "1", str(pcapng))
    assert len(out.splitlines()) == 1 and "VM_GET_HYP_RESOURCES" in out
    code, _, err = _run("decode", "-Y", "__import__('os')", str(pcapng))
    assert code == 1 and "not allowed" in err


def test_verbose_shows_the_field_tree(pcapng: Path):
    _, out, _ = _run("decode", "-V", "-c", "4", str(pcapng))
    assert "records 4, 5" in out
    assert "VMGetHypResourcesReply" in out or "n_entries" in out
    assert "msg_id    = VM_GET_HYP_RESOURCES (0x56000020)" in out


def test_pcap_pcapng_and_hexlog_decode_to_the_same_json(tmp_path: Path, pcapng: Path):
    records = _session()
    pcap = tmp_path / "session.pcap"
    write_capture(pcap, records)
    log = tmp_path / "dmesg.txt"
    with log.open("w") as f:
        write_hexlog(f, records)
    outs = {}
    for path in (pcapng, pcap, log):
        code, out, err = _run("decode", "--format", "jsonl", str(path))
        assert code == 0, err
        outs[path.suffix] = [json.loads(line) for line in out.splitlines()]
    assert outs[".pcap"] == outs[".pcapng"]
    # the log has only what the driver prints: no client VMID, no seq for requests, us timestamps
    # (relative to boot); messages and fields are the same
    keep = ("type", "msg_id", "msg_name", "err_code", "fields", "malformed")
    from_log = [{k: r[k] for k in keep} for r in outs[".txt"]]
    from_cap = [{k: r[k] for k in keep} for r in outs[".pcapng"]]
    assert from_log == from_cap
    assert [r["seq"] for r in outs[".txt"] if r["type"] == "request"] == [None, None, None]


def test_stdin_is_read_with_dash(pcapng: Path):
    result = subprocess.run(
        [sys.executable, "-m", "dissector.cli", "decode", "-"],
        input=pcapng.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == 7


def test_unreadable_input_fails_with_a_clear_error(tmp_path: Path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 this is not a capture\n" * 10)
    code, out, err = _run("decode", str(junk))
    assert code == 1 and out == ""
    assert "pcap" in err and "pcapng" in err  # names the formats tried


def test_convert_a_kernel_log_to_pcapng_that_tshark_opens(tmp_path: Path):
    log = tmp_path / "dmesg.txt"
    with log.open("w") as f:
        write_hexlog(f, _session())
    out_path = tmp_path / "from_log.pcapng"
    code, _, err = _run("convert", str(log), "-o", str(out_path))
    assert code == 0 and "wrote 8 record(s)" in err
    _, original, _ = _run("decode", "--format", "jsonl", str(log))
    _, converted, _ = _run("decode", "--format", "jsonl", str(out_path))
    keep = ("type", "msg_id", "fields", "err_code")
    assert [{k: json.loads(x)[k] for k in keep} for x in converted.splitlines()] == [
        {k: json.loads(x)[k] for k in keep} for x in original.splitlines()
    ]
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed (CI installs it)")
    result = subprocess.run(["tshark", "-r", str(out_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "appears to be damaged" not in result.stderr and "isn't a capture file" not in result.stderr
    assert len(result.stdout.splitlines()) == 8
