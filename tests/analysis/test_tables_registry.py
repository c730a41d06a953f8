"""The table registry (``dissector.analysis.tables``): every table declared once, everything
generated from it — the ``Trace`` property, ``Trace.schema``, ``window``, ``for_vms``, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from dissector.analysis import tables
from dissector.analysis.timebase import present, public_schema
from dissector.cli import build_parser, main
from dissector.cli_help import EXAMPLES, subcommands
from dissector.trace import TABLE_ATTRIBUTES, Trace, open_trace

ROOT = Path(__file__).resolve().parents[2]
MULTI = str(ROOT / "traces" / "multi_queue.pcapng")  # traces/README.md: 3 VMs, 8 parcels, 4 IRQs
FAULTS = str(ROOT / "traces" / "faults_mix.pcapng")
TABLE_OPTIONS = ("--format", "--vmid", "--client", "--start", "--end", "--dialect")


@pytest.fixture(scope="module")
def trace() -> Trace:
    return open_trace(MULTI)


def ghrm(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_trace_attributes_are_the_registry():
    assert TABLE_ATTRIBUTES == tables.NAMES
    assert len(set(tables.NAMES)) == len(tables.TABLES) == 11


@pytest.mark.parametrize("spec", tables.TABLES, ids=lambda t: t.name)
def test_every_table_has_a_schema_and_a_property(trace, spec):
    assert isinstance(getattr(Trace, spec.name), property)
    assert spec.name in (getattr(Trace, spec.name).__doc__ or "")
    public_schema(spec.schema).check(getattr(trace, spec.name))
    spec.schema.check(trace._view(spec.name))
    assert Trace.schema(spec.name).startswith(f"**{spec.name}**")  # memparcels and irqs too


@pytest.mark.parametrize("spec", tables.TABLES, ids=lambda t: t.name)
def test_every_table_has_a_cli_command(spec):
    commands = subcommands(build_parser())
    if isinstance(spec.cli, tables.TableCommand):
        parser = commands[spec.cli.name]
        options = {o for a in parser._actions for o in a.option_strings}
        assert set(TABLE_OPTIONS) <= options  # every common option, the ledgers included
        assert EXAMPLES[spec.cli.name] == spec.cli.examples
    else:
        name, _, option = spec.command.partition(" ")
        parser = commands[name]
        options = {o for a in parser._actions for o in a.option_strings}
        assert not option or option.split()[0] in options


@pytest.mark.parametrize("spec", [t for t in tables.TABLES if not isinstance(t.cli, tables.TableCommand)])
def test_tables_without_their_own_command_are_shown_by_the_one_named(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = spec.command.split()
    if argv[0] == "export":
        argv += [FAULTS, "-o", str(tmp_path / "t.csv")]
    else:
        argv += [FAULTS]
    code, out, err = ghrm(*argv)
    assert code == 0 and (out or "wrote" in err)


@pytest.mark.parametrize("spec", tables.TABLES, ids=lambda t: t.name)
def test_every_table_is_windowed_by_its_rule(trace, spec):
    lo, hi = 2.0009, 2.003
    window = trace.window(lo, hi)
    full, part = getattr(trace, spec.name), getattr(window, spec.name)
    public_schema(spec.schema).check(part)
    match spec.window:
        case tables.Rows():
            t = full["t"]
            assert len(part) == int(((t >= lo) & (t < hi)).sum())
        case tables.Span(first, last):
            a, b = full[first].to_numpy(float), full[last].to_numpy(float)
            inside = ~(b < lo) & ~(a >= hi)
            assert len(part) == int(inside.sum())
        case tables.Whole():
            pd.testing.assert_frame_equal(part, full)
        case tables.Derived():  # derived from the window's tables, not sliced from the whole
            assert spec.derive is not None
            derived = present(spec.derive(window), spec.schema, trace._base.get("timebase"))
            pd.testing.assert_frame_equal(part, derived)
    if spec.name == "srt":
        assert part["calls"].sum() == (window.transactions["request_frame"].notna()).sum()
        assert part["calls"].sum() < full["calls"].sum()
    if spec.name in ("memparcels", "irqs", "transactions", "messages"):
        assert 0 < len(part) < len(full)  # the window really cuts these on this trace


def test_for_vms_follows_each_tables_rule(trace):
    assert sorted(trace.for_vms(trace.memparcels, 0x82)["handle"]) == [0x1003, 0x1006, 0x1007]
    assert sorted(trace.for_vms("irqs", [0x82])["handle"]) == [0x42, 0x43]
    assert set(trace.for_vms(trace.lifecycles, 0x81)["vmid"]) == {0x81}
    assert sorted(trace.table("irqs", vmid=0x80, client=0x3)["handle"]) == [0x40]
    assert trace.table("irqs", client=0x80).empty  # the host (0x3) lent them all
    srt = trace.table("srt", vmid=0x81)
    assert srt.equals(trace.df_srt(vmid=0x81))
    with pytest.raises(Exception, match="derived from transactions"):
        trace.for_vms(trace.srt, 0x81)


# --- the ledgers on the command line, with the common options (traces/README.md, multi_queue) --
def handles(*argv: str) -> list[int]:
    code, out, err = ghrm(*argv, "--format", "json", MULTI)
    assert code == 0, err
    return [row["handle"] for row in json.loads(out)]


def test_memparcels_and_irqs_take_start_end_vmid_client():
    assert handles("memparcels") == list(range(0x1000, 0x1008))
    # alive after 2.0011 s: the parcels reclaimed last (0x1003 at 2.001103 s, 0x1006, 0x1007)
    assert handles("memparcels", "--start", "2.0011") == [0x1003, 0x1006, 0x1007]
    # created before 0.0131 s: the first six (0x1006 is created at 0.013120 s)
    assert handles("memparcels", "--end", "0.0131") == list(range(0x1000, 0x1006))
    assert handles("memparcels", "--vmid", "0x80", "--start", "2.0007") == [0x1004]
    assert handles("memparcels", "--client", "0x3", "--vmid", "0x81") == [0x1002, 0x1005]
    assert handles("irqs", "--start", "2.0011", "--vmid", "0x82") == [0x42, 0x43]
    assert handles("irqs", "--end", "0.0131") == [0x40]  # 0x41 is lent at 0.013113 s
    # 0x42 lent at 0.013552 s; 0x43 at 0.013604 s, after the end
    assert handles("irqs", "--start", "0.01", "--end", "0.0136", "--vmid", "0x82") == [0x42]


def test_ledger_empty_results_say_which_filters():
    code, out, _ = ghrm("irqs", "--client", "0x80", MULTI)
    assert code == 0 and out == "no lent IRQs lent by client 0x80\n"
    code, out, _ = ghrm("memparcels", "--vmid", "0x80", "--start", "3", MULTI)
    assert code == 0 and out == "no memory parcels about VM 0x80 alive from 3 s to end\n"
