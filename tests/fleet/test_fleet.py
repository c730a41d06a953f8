"""Fleets on a real Dask LocalCluster (2 worker processes): the same rows as the serial path.

One cluster for the module (starting worker processes costs seconds on this machine). The
serial reference is built here independently of ``dissector.fleet.build``: ``dissector.open``
per capture, a ``device`` column, ``pd.concat``.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

import dissector
from dissector.analysis.srt import df_srt
from dissector.analysis.timebase import capture_labels
from dissector.cli import main
from dissector.fleet import FleetError
from dissector.fleet.aggregates import serial_aggregates
from dissector.fleet.build import FLEET_TABLES
from dissector.fleet.sources import device_from_pcapng, expand, name_devices
from dissector.sim import simulate

TRACES = Path(__file__).resolve().parents[2] / "traces"
BUNDLED = {
    "lab-a": ["faults_mix.pcapng", "hang.pcap", "single_vm_clean.pcapng"],
    "lab-b": ["reclaim_storm.pcapng", "malformed_corrupt_block.pcapng", "watchdog_crash.pcapng"],
    "lab-c": ["start_noresource.pcapng", "multi_queue.pcapng", "dmesg_hexlog.log"],
}
SIMULATED = {  # device -> (seed, faults)
    "sim-1": (101, ""),
    "sim-2": (102, "error=0.05,crash@1"),
    "sim-3": (103, "lost_reply=0.05,start_fail@2"),
}


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bundled traces and small simulated captures, one folder per device."""
    root = tmp_path_factory.mktemp("fleet")
    for device, names in BUNDLED.items():
        (root / device).mkdir()
        for name in names:
            shutil.copy(TRACES / name, root / device / name)
    for device, (seed, faults) in SIMULATED.items():
        (root / device).mkdir()
        simulate(
            vms=2,
            seed=seed,
            duration=1.0,
            faults=faults,
            output=str(root / device / "night.pcapng"),
            truth=False,
        )
    return root


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def fleet(fleet_dir: Path, cluster):
    with dissector.fleet(str(fleet_dir), cluster.scheduler_address) as f:
        yield f


@pytest.fixture(scope="module")
def serial(fleet_dir: Path) -> dict[str, pd.DataFrame]:
    """Every table by the serial path: one Trace per capture, device = its folder."""
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in FLEET_TABLES}
    paths = expand(str(fleet_dir))
    labels = capture_labels(paths)  # night.pcapng x3: every capture named by its path
    assert labels[paths[0]] == paths[0]
    for path in paths:
        trace = dissector.open(path)
        for table in FLEET_TABLES:
            df = getattr(trace, table).copy()
            if "capture" in df.columns:
                df["capture"] = labels[path]
            else:
                df.insert(0, "capture", labels[path])
            df.insert(1, "device", Path(path).parent.name)
            parts[table].append(df)
    return {t: concat(frames) for t, frames in parts.items()}


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat``, with categoricals whose categories differ per capture made categorical again."""
    out = pd.concat(frames, ignore_index=True)
    for c in out.columns:
        categorical = any(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames)
        if categorical and not isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("category")
    return out


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as their values (their category lists depend on the concatenation order)."""
    out = df.reset_index(drop=True).copy()
    for c in out.columns:
        if (
            isinstance(out[c].dtype, pd.CategoricalDtype)
            or out[c].dtype == object
            or pd.api.types.is_string_dtype(out[c].dtype)
        ):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def test_every_table_equals_the_serial_concatenation(fleet, serial) -> None:
    got = dict(zip(FLEET_TABLES, fleet.compute(*FLEET_TABLES), strict=True))
    assert fleet.transactions.npartitions == len(fleet.sources) == 12
    for table in FLEET_TABLES:
        assert list(got[table].columns) == list(serial[table].columns), table
        assert len(got[table]) == len(serial[table]), table
        pd.testing.assert_frame_equal(plain(got[table]), plain(serial[table]), obj=table)
    devices = set(got["messages"]["device"].astype(str))
    assert devices == set(BUNDLED) | set(SIMULATED)
    assert got["messages"]["capture"].nunique() == 12


def test_tables_keep_declared_dtypes(fleet) -> None:
    (tx,) = fleet.compute("transactions")
    assert tx["latency"].dtype == np.float64
    assert tx["seq"].dtype == "Int32"
    assert isinstance(tx["device"].dtype, pd.CategoricalDtype)
    assert list(tx["status"].cat.categories) == list(fleet.transactions["status"].dtype.categories)
    (findings,) = fleet.compute("findings")
    assert isinstance(findings["frames"].iloc[0], tuple)  # stays a Python tuple, not a string


def test_aggregates_equal_the_serial_computation(fleet, serial) -> None:
    captures = fleet.captures.groupby("device").size().to_dict()
    expected = serial_aggregates(
        serial["transactions"], serial["findings"], serial["lifecycle_summary"], captures
    )
    srt = fleet.fleet_srt()
    assert srt.attrs["exact"] is True
    every = serial["transactions"]  # the fleet SRT is one "capture", the fleet: one row per call
    every = every.assign(capture=pd.Categorical(["fleet"] * len(every)))
    pd.testing.assert_frame_equal(plain(srt), plain(df_srt(every)))
    pd.testing.assert_frame_equal(fleet.devices(), expected["devices"])
    pd.testing.assert_frame_equal(fleet.boot_latency(), expected["boot_latency"])


def test_device_counts_are_the_known_answers(fleet, serial) -> None:
    """Counted straight from the serial tables, without the aggregate code."""
    devices = fleet.devices().set_index("device")
    tx, findings = serial["transactions"], serial["findings"]
    for device in devices.index:
        rows = tx[tx["device"] == device]
        assert devices.loc[device, "errors"] == int((rows["status"] == "error").sum())
        answered = int(rows["status"].isin(["ok", "error", "malformed"]).sum())
        assert devices.loc[device, "error_rate"] == pytest.approx(
            (rows["status"] == "error").sum() / answered
        )
        f = findings[findings["device"] == device]
        assert devices.loc[device, "findings_error"] == int(f.loc[f["severity"] == "error", "count"].sum())
    # reclaim_storm: 5 HANDLE_INVALID replies to MEM_RECLAIM on lab-b
    assert devices.loc["lab-b", "errors"] >= 5
    boots = fleet.boot_latency().set_index("device")
    lab_b = serial["lifecycle_summary"].query("device == 'lab-b'")["boot_latency"].dropna()
    assert boots.loc["lab-b", "p50"] == pytest.approx(float(np.median(lab_b)))
    slowest = fleet.slowest_devices(1)
    assert slowest["boot_p50"].iloc[0] == fleet.devices()["boot_p50"].max()
    ranked = fleet.devices_by_failures()
    assert list(ranked["failures"]) == sorted(ranked["failures"], reverse=True)


def test_approximate_srt_above_the_limit(fleet) -> None:
    exact = fleet.fleet_srt().set_index("msg_id")
    approx = fleet.fleet_srt(exact_limit=0).set_index("msg_id")
    assert approx.attrs["exact"] is False
    assert list(approx.index) == list(exact.index)
    for column in ("calls", "errors", "unanswered"):
        assert (approx[column] == exact[column]).all(), column
    for column in ("min", "max", "sum", "mean"):
        np.testing.assert_allclose(approx[column], exact[column], rtol=1e-9, err_msg=column)
    timed = approx["min"].notna()
    for q in ("p50", "p90", "p99"):
        assert (
            (approx.loc[timed, q] >= approx.loc[timed, "min"])
            & (approx.loc[timed, q] <= approx.loc[timed, "max"])
        ).all()


def test_a_damaged_capture_reports_and_does_not_fail_the_others(
    fleet_dir: Path, cluster, tmp_path: Path
) -> None:
    (tmp_path / "bad").mkdir()
    junk = tmp_path / "bad" / "not_a_capture.pcapng"
    junk.write_bytes(b"this is not a capture at all\n" * 10)
    corrupt = fleet_dir / "lab-b" / "malformed_corrupt_block.pcapng"
    good = fleet_dir / "lab-a" / "faults_mix.pcapng"
    with dissector.fleet([str(junk), str(corrupt), str(good)], cluster.scheduler_address) as f:
        findings, messages, problems = f.compute("findings", "messages", "problems")
    by_capture = findings.groupby("capture", observed=True)["code"].apply(lambda s: set(s.astype(str)))
    assert "capture_unreadable" in by_capture[junk.name]  # basenames: unique in this fleet
    assert "capture_problem" in by_capture[corrupt.name]
    expected = dissector.open(str(good))
    assert (messages["capture"] == good.name).sum() == len(expected.messages)
    assert (messages["capture"] == corrupt.name).sum() == len(dissector.open(str(corrupt)).messages)
    row = problems[problems["capture"] == junk.name].iloc[0]
    assert bool(row["fatal"]) and "not a supported capture" in row["reason"]


def test_unreachable_scheduler_is_a_clear_error(fleet_dir: Path) -> None:
    with pytest.raises(
        FleetError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 within 1 s"
    ):
        dissector.fleet(str(fleet_dir), "tcp://127.0.0.1:9", timeout=1)
    err = io.StringIO()
    code = main(["stats", str(fleet_dir), "--fleet", "--scheduler", "tcp://127.0.0.1:9"], io.StringIO(), err)
    assert code == 1
    assert err.getvalue().startswith("ghrm: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert err.getvalue().count("\n") == 1


def test_synchronous_scheduler_gives_the_same_tables(fleet_dir: Path, serial) -> None:
    with dissector.fleet(str(fleet_dir / "lab-a"), "synchronous") as f:
        (tx,) = f.compute("transactions")
    want = plain(serial["transactions"][serial["transactions"]["device"] == "lab-a"])
    want["capture"] = [Path(c).name for c in want["capture"]]  # unique basenames in this fleet
    want["capture"] = want["capture"].astype(object)
    pd.testing.assert_frame_equal(plain(tx), want)


# --- devices --------------------------------------------------------------------------------
def _with_hardware(src: Path, dst: Path, hardware: str) -> None:
    """A copy of a little-endian pcapng whose section header carries ``shb_hardware``."""
    data = src.read_bytes()
    blen = struct.unpack_from("<I", data, 4)[0]
    value = hardware.encode()
    opts = struct.pack("<HH", 2, len(value)) + value + b"\0" * (-len(value) % 4) + b"\0\0\0\0"
    body = data[8:24] + opts
    shb = struct.pack("<II", 0x0A0D0D0A, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    dst.write_bytes(shb + data[blen:])


def test_device_names_from_metadata_folder_and_pattern(tmp_path: Path) -> None:
    (tmp_path / "rack7").mkdir()
    stamped = tmp_path / "rack7" / "board-0042_night3.pcapng"
    _with_hardware(TRACES / "single_vm_clean.pcapng", stamped, "board-0042")
    plain_copy = tmp_path / "rack7" / "board-0099_night3.pcapng"
    shutil.copy(TRACES / "single_vm_clean.pcapng", plain_copy)
    assert device_from_pcapng(str(stamped)) == "board-0042"
    assert device_from_pcapng(str(plain_copy)) is None
    assert len(dissector.open(str(stamped)).messages) == len(dissector.open(str(plain_copy)).messages)
    named = {Path(s.path).name: (s.device, s.device_source) for s in name_devices(expand(str(tmp_path)))}
    assert named == {stamped.name: ("board-0042", "pcapng"), plain_copy.name: ("rack7", "folder")}
    by_pattern = name_devices(expand(str(tmp_path / "rack7" / "*.pcapng")), r"(?P<device>board-\d+)_")
    assert [(s.device, s.device_source) for s in by_pattern] == [
        ("board-0042", "pattern"),
        ("board-0099", "pattern"),
    ]
    with pytest.raises(FleetError, match="not a regular expression"):
        name_devices([str(stamped)], "board-(")
    with pytest.raises(FleetError, match="no file matches"):
        expand(str(tmp_path / "*.nothing"))


# --- the command line -----------------------------------------------------------------------
CLI_DEVICES = ("lab-a", "sim-2")  # a smaller fleet: each command starts its own


def test_cli_stats_fleet_prints_the_fleet_srt(fleet_dir: Path, cluster, serial) -> None:
    folders = [str(fleet_dir / d) for d in CLI_DEVICES]
    out, err = io.StringIO(), io.StringIO()
    code = main(["stats", *folders, "--fleet", "--scheduler", cluster.scheduler_address], out, err)
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert "across 4 captures from 2 devices" in text and "exact percentiles" in text
    tx = serial["transactions"]
    mine = concat([tx[tx["device"] == d] for d in CLI_DEVICES])
    srt = df_srt(mine.assign(capture=pd.Categorical(["fleet"] * len(mine))))  # one row per call
    start = srt[srt["name"] == "VM_START"].iloc[0]
    line = next(ln for ln in text.splitlines() if ln.startswith("VM_START "))
    assert f"{start.p99 * 1e3:.3f}" in line.split() and str(start.calls) in line.split()
    for device in CLI_DEVICES:
        assert any(ln.startswith(device + " ") for ln in text.splitlines()), device

    out = io.StringIO()
    as_json = ["--fleet", "--scheduler", cluster.scheduler_address, "--format", "json"]
    assert main(["stats", *folders, *as_json], out, err) == 0
    rows = json.loads(out.getvalue())
    assert [r["msg_id"] for r in rows] == srt["msg_id"].tolist()
    assert [r["calls"] for r in rows] == srt["calls"].tolist()


def test_cli_findings_errors_lifecycle_fleet(fleet_dir: Path, cluster, serial) -> None:
    folders = [str(fleet_dir / d) for d in CLI_DEVICES]
    addr = ["--fleet", "--scheduler", cluster.scheduler_address]
    out, err = io.StringIO(), io.StringIO()
    assert main(["findings", *folders, *addr, "--format", "json", "--severity", "error"], out, err) == 0
    rows = json.loads(out.getvalue())
    findings = serial["findings"][serial["findings"]["device"].isin(CLI_DEVICES)]
    assert len(rows) == int((findings["severity"] == "error").sum()) > 0
    assert [r["text"] for r in rows] == findings.loc[findings["severity"] == "error", "text"].tolist()

    out = io.StringIO()
    assert main(["errors", *folders, *addr, "--format", "csv"], out, err) == 0
    table = pd.read_csv(io.StringIO(out.getvalue()))
    errors = serial["errors"][serial["errors"]["device"].isin(CLI_DEVICES)]
    per_device = errors.groupby("device", observed=True)["count"].sum()
    assert table.groupby("device")["count"].sum().to_dict() == {
        str(d): int(n) for d, n in per_device.items() if n
    }

    out = io.StringIO()
    assert main(["lifecycle", *folders, *addr], out, err) == 0
    assert "Boot latency" in out.getvalue() and "sim-2" in out.getvalue()


def test_cli_misuse_is_one_line(fleet_dir: Path) -> None:
    err = io.StringIO()
    assert (
        main(
            ["stats", str(fleet_dir / "lab-a" / "hang.pcap"), "--scheduler", "synchronous"],
            io.StringIO(),
            err,
        )
        == 2
    )
    assert err.getvalue() == "ghrm stats: --scheduler needs --fleet\n"
    err = io.StringIO()
    assert main(["errors", str(fleet_dir), "--fleet", "--vmid", "0x80"], io.StringIO(), err) == 2
    assert err.getvalue().count("\n") == 1 and "--vmid" in err.getvalue()
    err = io.StringIO()
    assert (
        main(
            ["stats", str(fleet_dir / "nothing-*.pcapng"), "--fleet", "--scheduler", "synchronous"],
            io.StringIO(),
            err,
        )
        == 1
    )
    assert err.getvalue().startswith("ghrm: error: ") and "no file matches" in err.getvalue()


def test_cli_report_fleet_writes_the_fleet_page(fleet_dir: Path, cluster, serial, tmp_path: Path) -> None:
    folders = [str(fleet_dir / d) for d in CLI_DEVICES]
    page = tmp_path / "fleet.html"
    err = io.StringIO()
    args = ["report", *folders, "--fleet", "--scheduler", cluster.scheduler_address, "-o", str(page)]
    assert main(args, io.StringIO(), err) == 0, err.getvalue()
    assert err.getvalue().endswith(f"ghrm: wrote {page}\n")
    text = page.read_text()
    for section in (
        "Devices ranked by failures",
        "Devices ranked by boot latency",
        "Per-device VM timelines",
    ):
        assert section in text
    assert text.count("<img ") == 3 + len(CLI_DEVICES)  # failures, boots, VM_START, one timeline each
    tx = serial["transactions"]
    for device in CLI_DEVICES:  # the serial path's numbers are on the page
        rows = tx[tx["device"] == device]
        answered = rows["status"].isin(["ok", "error", "malformed"]).sum()
        rate = f"{(rows['status'] == 'error').sum() / answered:.2%}"
        assert f">{device}<" in text and f">{rate}<" in text, (device, rate)
    err = io.StringIO()
    assert main([*args, "--format", "md"], io.StringIO(), err) == 2
    assert err.getvalue().count("\n") == 1
