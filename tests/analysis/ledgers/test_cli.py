"""``ghrm memparcels`` and ``ghrm irqs`` on a pcapng written here."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from dissector.analysis.ledgers import IRQS, MEMPARCELS
from dissector.analysis.ledgers.cli import register
from tests.analysis.ledgers.ledger_sessions import vm_life


def ghrm(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ghrm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    life = vm_life(reclaim_fw=False)  # the firmware parcel is never reclaimed
    return life.session.write(tmp_path_factory.mktemp("cli") / "life.pcapng")


def test_memparcels_text(capture: Path):
    code, out, err = ghrm("memparcels", str(capture))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Memory parcels: 3 (1 mapped, 2 reclaimed)"
    assert lines[1].split()[:4] == ["handle", "owner", "type", "size"]
    dtb, fw, buf = lines[2:5]
    assert dtb.split()[:6] == ["0x10", "0x3", "LEND", "0x400000", "(4", "MiB)"]
    assert "0x80:RWX" in dtb and dtb.rstrip().endswith("reclaimed  VM 0x80 DTB: 2 MiB at +0x200000")
    assert "mapped" in fw and "VM 0x80 firmware: 1 MiB at +0x0" in fw
    assert "0x80@0x40000000" in buf and "0x3:RW 0x80:RW" in buf


def test_irqs_text(capture: Path):
    code, out, _ = ghrm("irqs", str(capture))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Lent IRQs: 1 (1 reclaimed)"
    assert lines[2].split()[:5] == ["0x20", "0x3", "72", "0x5", "0x80"]


def test_machine_formats_have_every_column(capture: Path):
    code, out, _ = ghrm("memparcels", str(capture), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and list(rows[0]) == MEMPARCELS.names
    assert rows[0]["handle"] == 0x10 and rows[0]["acl"] == [[0x80, 7]] and rows[1]["reclaimed_frame"] is None
    code, out, _ = ghrm("irqs", str(capture), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and list(table[0]) == IRQS.names and table[0]["virq"] == "72"


def test_vmid_filter_and_empty_result(capture: Path):
    _, out, _ = ghrm("memparcels", str(capture), "--vmid", "0x80", "--format", "json")
    assert len(json.loads(out)) == 3
    code, out, err = ghrm("memparcels", str(capture), "--vmid", "0x99")
    assert code == 0 and out == "no memory parcels about VM 0x99\n"
    code, out, err = ghrm("irqs", str(capture), "--vmid", "0x99", "--format", "json")
    assert code == 0 and out == "[]\n" and "no lent IRQs" in err


def test_unreadable_input(tmp_path: Path):
    junk = tmp_path / "junk.pcapng"
    junk.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    code, _, err = ghrm("memparcels", str(junk))
    assert code == 1 and "ghrm:" in err
