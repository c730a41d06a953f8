"""Issue 19 and 13.3: every hostile input, argument and filter, through the real ``ghrm`` command.

Each numbered case of issue 19 runs the CLI in a subprocess under an address-space and CPU limit
(``prlimit``) and checks: no traceback, the documented exit status (README "Exit codes"), one
line per message on stderr, and every intact message kept. Variants of a case run in-process
through ``dissector.cli.main`` (same code, no interpreter start-up), and the library API is fed
the same inputs: it may raise only ``dissector`` errors. Large inputs are generated in
``tmp_path``, never committed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dissector
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.cli import main
from dissector.decoded import decode_file
from dissector.errors import GhrmError
from tests.analysis.ledgers.ledger_sessions import Session, vm_life
from tests.capture.capbytes import ALLOC_REP, ALLOC_REQ, cap, epb, idb, option, pcap_header, pcap_record, shb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TRACES = ROOT / "traces"
HEXLOG = TRACES / "dmesg_hexlog.log"
MEMORY_LIMIT = 800 << 20  # bytes of address space: the runaway cases needed gigabytes
CPU_LIMIT = 30  # seconds
T0 = 1_700_000_000

pytestmark = pytest.mark.skipif(not Path("/usr/bin/prlimit").exists(), reason="needs prlimit (util-linux)")


def ghrm(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, bounded in memory and CPU time."""
    cmd = ["prlimit", f"--as={MEMORY_LIMIT}", f"--cpu={CPU_LIMIT}", sys.executable, "-m", "dissector.cli"]
    proc = subprocess.run(
        [*cmd, *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    return subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def run(*args: str | Path) -> tuple[int, str, str]:
    """The CLI in-process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in args], out, err)
    return code, out.getvalue(), err.getvalue()


def clean(stderr: str) -> list[str]:
    """stderr lines, after checking there is no traceback and every line is a ghrm message."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert all(line.startswith("ghrm") for line in lines), stderr
    return lines


def one_error(result: subprocess.CompletedProcess[str] | tuple[int, str, str], code: int, *words: str) -> str:
    """A command that failed as documented: status ``code``, one stderr line holding ``words``."""
    status, err = (
        (result.returncode, result.stderr) if hasattr(result, "returncode") else (result[0], result[2])
    )
    lines = clean(err)
    assert status == code, err
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def library_raises_only_ours(path: Path) -> None:
    """The library on the same input: decoding and every table raise only dissector errors."""
    try:
        for _ in decode_file(str(path)):
            pass
        trace = dissector.open(str(path))
        for table in ("messages", "transactions", "memparcels", "findings"):
            getattr(trace, table)
    except GhrmError:
        pass


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def records_pcap(path: Path, messages: list[bytes], times: list[int] | None = None) -> bytes:
    times = times or [T0 + i for i in range(len(messages))]
    data = pcap_header() + b"".join(pcap_record(t, 0, cap(m)) for t, m in zip(times, messages, strict=True))
    path.write_bytes(data)
    return data


def numbered(i: int) -> bytes:
    """An intact VM_ALLOCATE request with seq ``i``."""
    return struct.pack("<BBHI", 0x21, 1, i & 0xFFFF, 0x56000001) + struct.pack("<I", 0)


# --- 1. records longer than a message-queue message --------------------------------------------
def test_01_oversized_record_is_kept_cut_and_flagged(tmp_path: Path) -> None:
    reply = struct.pack("<BBHII", 0x21, 2, 1, 0x56000016, 0) + struct.pack("<I", 16383) + bytes(65_000)
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap_header() + pcap_record(T0, 0, cap(reply, 2)) + pcap_record(T0, 1, cap(ALLOC_REQ)))
    result = ghrm("decode", "--format", "jsonl", path)
    clean(result.stderr)
    assert result.returncode == 0
    rows = jsonl(result.stdout)
    assert len(rows) == 2 and rows[1]["msg_name"] == "VM_ALLOCATE"
    assert "more than 240; only its first 240 were decoded" in rows[0]["malformed"]
    library_raises_only_ours(path)


# --- 2. convert onto its own input; failed converts leave nothing ------------------------------
def test_02_convert_refuses_its_input_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    data = records_pcap(path, [numbered(i) for i in range(50)])
    one_error(ghrm("convert", path, "-o", path), 2, "refusing to overwrite")
    assert path.read_bytes() == data
    link = tmp_path / "link.pcap"
    link.symlink_to(path)
    one_error(run("convert", path, "-o", link), 2, "refusing to overwrite")
    for bad in ("out.txt", "noext", "dir/", "file.pcap/x.pcap"):
        (tmp_path / "dir").mkdir(exist_ok=True)
        (tmp_path / "file.pcap").write_bytes(b"")
        before = sorted(os.listdir(tmp_path))
        one_error(run("convert", path, "-o", tmp_path / bad), 2)
        assert sorted(os.listdir(tmp_path)) == before, bad
    one_error(run("convert", path, "-o", "/dev/full", "--out-format", "pcap"), 1, "/dev/full")
    # a run that fails midway (input cut by a read error) leaves the old destination alone
    out = tmp_path / "out.pcapng"
    out.write_bytes(b"old")
    code, _, _ = run("convert", "/proc/self/mem", "-o", out)
    assert code == 1 and out.read_bytes() == b"old"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_02_convert_keeps_records_whose_time_the_format_cannot_hold(tmp_path: Path) -> None:
    records = [
        Record(1, -5, Direction.TO_RM, 3, ALLOC_REQ),
        Record(2, (1 << 63) - 1, Direction.FROM_RM, 3, ALLOC_REP),
    ]
    src = tmp_path / "odd.pcapng"
    write_capture(src, [Record(1, 0, Direction.TO_RM, 3, ALLOC_REQ)])
    from dissector.capture.convert import ConvertResult, wire_records

    result = ConvertResult()
    kept = list(wire_records(records, result, "pcap"))
    assert [r.time_ns for r in kept] == [None, None] and len(result.problems) == 2
    assert "cannot be stored in pcap" in result.problems[0].reason


# --- 3. pcap recovery keeps intact records -----------------------------------------------------
def _damaged(kind: str) -> tuple[bytes, int]:
    """40 records with one kind of damage; how many intact records must survive."""

    def rec(i: int, t: int, caplen: int | None = None) -> bytes:
        return pcap_record(t, 0, cap(numbered(i)), caplen=caplen)

    recs = [rec(i, T0 + i) for i in range(40)]
    if kind == "caplen16to3":
        recs[5] = rec(5, T0 + 5, caplen=3)
    elif kind == "future_then_corrupt":
        recs[5] = rec(5, T0 + 10**9)
        recs[6] = b"\xff" * 7 + recs[6][7:]
    elif kind == "gap_then_corrupt":
        recs = [rec(i, T0 + i + (0 if i < 20 else 2 * 86400)) for i in range(40)]
        recs[25] = b"\xff" * 12 + recs[25][12:]
    elif kind == "caplen_too_large":
        recs[5] = struct.pack("<IIII", T0 + 5, 0, 200, 200) + recs[5][16:]
    return pcap_header() + b"".join(recs), 39 if kind != "future_then_corrupt" else 40


@pytest.mark.parametrize(
    "kind", ["caplen16to3", "future_then_corrupt", "gap_then_corrupt", "caplen_too_large"]
)
def test_03_pcap_recovery_keeps_intact_records(tmp_path: Path, kind: str) -> None:
    data, intact = _damaged(kind)
    path = tmp_path / f"{kind}.pcap"
    path.write_bytes(data)
    code, out, err = run("decode", "--format", "jsonl", path)
    clean(err)
    assert code == 0
    seqs = {r["seq"] for r in jsonl(out) if r["msg_name"] == "VM_ALLOCATE" and not r["malformed"]}
    assert len(seqs) >= intact, (kind, sorted(set(range(40)) - seqs))


def test_03_cli_on_a_damaged_pcap(tmp_path: Path) -> None:
    data, _ = _damaged("caplen_too_large")
    path = tmp_path / "d.pcap"
    path.write_bytes(data)
    result = ghrm("decode", path)
    lines = clean(result.stderr)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 39
    assert any("claims 200 bytes" in line for line in lines)


# --- 4 and 5. linear pcapng reader, vectorised resync, gzip expansion cap -----------------------
def test_04_pcapng_blocks_running_past_the_end_read_in_linear_time(tmp_path: Path) -> None:
    unit = struct.pack("<II", 6, 0x00FFFFF0) + bytes(24)
    path = tmp_path / "past.pcapng"
    path.write_bytes(shb() + idb(147) + epb(0, 1, cap(ALLOC_REQ)) + unit * ((4 << 20) // len(unit)))
    result = ghrm("decode", path)  # 4 MB: 40 s before, well inside the CPU limit now
    clean(result.stderr)
    assert result.returncode == 0 and "VM_ALLOCATE" in result.stdout


def test_05_resync_over_expanded_gzip_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pcap.gz"
    garbage = b"\x01\x00" * (16 << 20)  # 32 MiB of resync candidates
    path.write_bytes(gzip.compress(pcap_header() + pcap_record(T0, 0, cap(ALLOC_REQ)) + garbage))
    result = ghrm("decode", path)
    clean(result.stderr)
    assert result.returncode == 0 and "VM_ALLOCATE" in result.stdout


def test_05_gzip_expansion_is_capped() -> None:
    from dissector.capture import detect

    data = gzip.compress(pcap_header() + bytes(detect.GZIP_RATIO_FLOOR * 2))
    with detect.open_records(io.BytesIO(data)) as stream:
        problems = [p for p in stream if not isinstance(p, Record)]
    assert "decompression bomb" in problems[-1].reason and problems[-1].fatal


# --- 6. 64-bit ranges --------------------------------------------------------------------------
def test_06_sizes_past_2_63_give_range_wraps(tmp_path: Path) -> None:
    life = vm_life(Session(), fw_size=(1 << 64) - 0x1000)
    path = life.session.write(tmp_path / "wrap.pcapng")
    result = ghrm("findings", "--format", "json", path)
    clean(result.stderr)
    assert result.returncode == 0
    codes = [f["code"] for f in json.loads(result.stdout)]
    assert "range_wraps" in codes
    code, out, _ = run("memparcels", "--format", "json", path)
    assert code == 0 and json.loads(out)
    assert "range_wraps" in set(dissector.open(str(path)).findings["code"])


# --- 7. numbers of thousands of digits ---------------------------------------------------------
def test_07_huge_numbers_do_not_abort_the_file(tmp_path: Path) -> None:
    log = tmp_path / "digits.log"
    log.write_bytes(
        b"[" + b"9" * 5000 + b".000001] gh_rm_recv: 00000000: 21 02 01 00 01 00 00 56 00 00 00 00\n"
        b"RM rejected message 56000004. Error: " + b"9" * 5000 + b"\n" + HEXLOG.read_bytes()
    )
    result = ghrm("decode", log)
    clean(result.stderr)
    base = run("decode", HEXLOG)[1].splitlines()
    assert result.returncode == 0 and len(result.stdout.splitlines()) >= len(base) + 1
    t2p = tmp_path / "t.txt"
    t2p.write_bytes(b"I " + b"1" * 5000 + b".5\n000000 01 02 03 00 21 02 00 00 01 00 00 56 00 00 00 00\n")
    code, out, err = run("decode", t2p)
    assert code == 0 and "VM_ALLOCATE" in out and "not understood" in err
    library_raises_only_ours(log)


# --- 8. OS errors and outputs that cannot be written -------------------------------------------
def test_08_os_errors_are_one_line(tmp_path: Path) -> None:
    one_error(ghrm("decode", tmp_path / "missing.pcap"), 1, "missing.pcap", "No such file")
    for args, code, word in (
        (("decode", tmp_path), 1, "directory"),
        (("decode", ""), 1, "empty file name"),
        (("decode", "/proc/self/mem"), 1, "/proc/self/mem"),
        (("stats", "/proc/self/mem"), 1, "/proc/self/mem"),
        (("memparcels", tmp_path), 1, "directory"),
        (("irqs", tmp_path / "nope"), 1, "No such file"),
        (("convert", HEXLOG, "-o", "/proc/x.pcapng"), 2, "/proc/x.pcapng"),
        (("convert", HEXLOG, "-o", tmp_path), 2, "directory"),
        (("convert", HEXLOG, "-o", f"{HEXLOG}/x.pcap"), 2, "not a directory"),
        (("wireshark", "lua", "-o", tmp_path), 2, "directory"),
        (("simulate", "-o", "/proc/x.pcapng"), 2, "/proc/x.pcapng"),
        (("simulate", "-o", tmp_path / "s.pcapng", "--hexlog", "/proc/x.log"), 2, "/proc/x.log"),
    ):
        one_error(run(*args), code, word)
    assert not (tmp_path / "s.pcapng").exists()  # validated before any work
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.pcap"
        locked.write_bytes(b"")
        locked.chmod(0)
        one_error(run("decode", locked), 1, "permission")


# --- 9. arguments ------------------------------------------------------------------------------
def test_09_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    one_error(ghrm("transactions", "--name", "NOT_A_CALL", TRACES / "hang.pcap"), 2, "NOT_A_CALL")
    out = tmp_path / "s.pcapng"
    for args in (
        ("--duration", "inf"),
        ("--duration", "nan"),
        ("--slow-rm", "0:1:inf"),
        ("--latency-scale", "1e300"),
        ("--latency-scale", "0"),
    ):
        one_error(run("simulate", "-o", out, *args), 2)
    one_error(run("decode", "--bogus", HEXLOG), 2, "--bogus")
    assert not out.exists()


def test_09_debug_shows_the_traceback() -> None:
    with pytest.raises(GhrmError):
        main(["decode", "--debug", "/nonexistent"], io.StringIO(), io.StringIO())


# --- 10 and 13.3. the filter language ----------------------------------------------------------
def test_10_hostile_filters(tmp_path: Path) -> None:
    pcapng = TRACES / "fleet_20vms.pcapng"
    one_error(ghrm("decode", "-Y", "bogus == 1", pcapng), 2, "unknown field 'bogus'")
    for expr, word in (
        ("-type == 1", "expected a field name"),
        ("not " * 5000 + "frame", "nested more than"),
        ("(" * 30000 + "frame", "nested more than"),
        ("frame == \udcff", "unexpected character"),
        ("msg_name == 'VM_STRAT'", "closest: VM_START"),
        ("vmd == 1", "closest: vmid"),
        ("x" * (2 << 20), "longer than the limit"),
    ):
        line = one_error(run("decode", "-Y", expr, pcapng), 2, word)
        assert len(line) < 400
    names = " ".join(["VM_START"] * 8000)
    code, out, _ = run("decode", "-c", "3", "-Y", f"msg_name in {{{names}}}", pcapng)
    assert code == 0 and len(out.splitlines()) == 3 and "VM_START" in out


def test_13_3_frame_matches_continuations_and_sets(tmp_path: Path) -> None:
    rows = jsonl(run("decode", "--format", "jsonl", TRACES / "fleet_20vms.pcapng")[1])
    multi = next(r for r in rows if len(r["frames"]) > 1)
    cont = multi["frames"][1]
    code, out, _ = run("decode", "--format", "jsonl", "-Y", f"frame == {cont}", TRACES / "fleet_20vms.pcapng")
    assert code == 0 and [r["frame"] for r in jsonl(out)] == [multi["frame"]]
    first, last = rows[0]["frame"], rows[-1]["frame"]
    code, out, _ = run(
        "decode", "--format", "jsonl", "-Y", f"frame in {{{first} {last}}}", TRACES / "fleet_20vms.pcapng"
    )
    assert [r["frame"] for r in jsonl(out)] == [first, last]


# --- 11. text logs in the shapes they come in ---------------------------------------------------
def test_11_text_logs_in_every_shape(tmp_path: Path) -> None:
    text = HEXLOG.read_bytes()
    base = run("decode", "--format", "jsonl", HEXLOG)[1]
    expected = [(r["msg_name"], r["fields"]) for r in jsonl(base)]
    boot = b"".join(b"[    0.%06d] unrelated boot message %d\n" % (i % 999999, i) for i in range(40_000))
    shapes = {
        "kern.log": boot + text,  # RM lines only after 1 MiB of boot log
        "nul.log": b"\0" * 100 + text,
        "color.log": text.replace(b"[", b"\x1b[32m[").replace(b"]", b"]\x1b[0m"),
        "lines.log": b"".join(b"\x1b[1;31m" + line + b"\x1b[0m\n" for line in text.splitlines()),
        "cr.log": text.replace(b"\n", b"\r"),
        "utf16.log": text.decode().encode("utf-16"),
    }
    assert len(boot) > 1 << 20
    path = tmp_path / "kern.log"
    path.write_bytes(shapes["kern.log"])
    result = ghrm("decode", "--format", "jsonl", path)
    clean(result.stderr)
    assert [(r["msg_name"], r["fields"]) for r in jsonl(result.stdout)] == expected
    for name, data in shapes.items():
        path = tmp_path / name
        path.write_bytes(data)
        code, out, err = run("decode", "--format", "jsonl", path)
        clean(err)
        assert code == 0 and [(r["msg_name"], r["fields"]) for r in jsonl(out)] == expected, name
    prose = tmp_path / "prose.log"
    prose.write_bytes(boot)
    code, _, err = run("decode", prose)
    assert code == 1 and "without any RM log line" in clean(err)[0]


# --- 12 and 13. terminal escapes, forged provenance ---------------------------------------------
def _evil_pcapng(path: Path, app: bytes | None) -> None:
    head = shb(opts=[(4, app)] if app else None)
    iface = idb(147, "evil\x1b]0;pwned\x07\x1b[2J")
    forged = epb(0, 1, cap(ALLOC_REQ), comments=("ghrm-synthetic; seq unknown: \x1b[31mFAKE",))
    path.write_bytes(head + iface + forged + epb(0, 2, cap(ALLOC_REP, 2)))


def test_12_13_escapes_and_forged_provenance(tmp_path: Path) -> None:
    path = tmp_path / "evil.pcapng"
    _evil_pcapng(path, None)
    result = ghrm("decode", "-V", path)
    clean(result.stderr)
    assert result.returncode == 0 and "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\x1b]0;pwned\\x07" in result.stdout
    rows = jsonl(run("decode", "--format", "jsonl", path)[1])
    assert rows[0]["seq"] == 1  # the forged comment did not hide the seq
    _evil_pcapng(path, b"ghrm")  # written by ghrm: its provenance comment is honoured
    assert jsonl(run("decode", "--format", "jsonl", path)[1])[0]["seq"] is None
    assert option(4, b"ghrm")  # the SHB option our writer emits


# --- 15. many reassembly queues ---------------------------------------------------------------
def test_15_three_hundred_interleaved_queues_keep_every_message(tmp_path: Path) -> None:
    queues, records = 300, []
    for part in range(2):
        for vmid in range(queues):
            kind = (1 << 2) | 2 if part == 0 else 1 << 2
            msg = struct.pack("<BBHI", 0x21, kind, vmid, 0x56000016) + bytes(232 if part == 0 else 8)
            records.append(
                Record(len(records) + 1, (T0 + len(records)) * 10**9, Direction.FROM_RM, vmid, msg)
            )
    path = tmp_path / "queues.pcapng"
    write_capture(path, records)
    result = ghrm("decode", "--format", "jsonl", path)
    clean(result.stderr)
    rows = jsonl(result.stdout)
    assert result.returncode == 0 and len(rows) == queues
    assert all(len(r["frames"]) == 2 and "incomplete" not in (r["malformed"] or "") for r in rows)


# --- 16. library errors say what is wrong -------------------------------------------------------
def test_16_library_errors_are_typed_and_honest() -> None:
    from dissector.errors import UsageError

    with pytest.raises(UsageError, match="state_limits"):
        _ = dissector.open(str(TRACES / "hang.pcap"), state_limits=[1, 2]).lifecycles
    assert len(dissector.open(os.fsencode(TRACES / "hang.pcap")).messages) > 0
    with pytest.raises(UsageError, match="path"):
        dissector.open(5)
    with pytest.raises(GhrmError, match="No such file"):
        dissector.open("/nonexistent.pcap")


# --- 17. --follow across log rotation -----------------------------------------------------------
def test_17_follow_survives_rotation(tmp_path: Path) -> None:
    lines = HEXLOG.read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if "TX msg_id" in line or "gh_rm_recv: 00000000" in line]
    cut = starts[len(starts) // 2]
    live = tmp_path / "kern.log"
    live.write_text("".join(lines[:cut]))
    cmd = [
        "prlimit",
        f"--as={MEMORY_LIMIT}",
        sys.executable,
        "-m",
        "dissector.cli",
        "decode",
        "-f",
        str(live),
    ]
    expected = len(run("decode", HEXLOG)[1].splitlines())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines_out: list[str] = []
    reader = threading.Thread(target=lambda: lines_out.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not lines_out and time.monotonic() < deadline:
            time.sleep(0.05)  # the follower runs; an open file keeps its content across the rename
        live.rename(tmp_path / "kern.log.1")
        live.write_text("".join(lines[cut:]))
        while len(lines_out) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=10)
        err = proc.stderr.read()  # type: ignore[union-attr]
    out = "".join(lines_out)
    clean(err)
    assert len(out.splitlines()) == expected
