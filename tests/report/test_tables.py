"""The report's HTML tables, written directly, equal what pandas Styler wrote for them.

``tables.html`` once rendered every table through ``Styler`` (a Jinja2 context per cell: seconds
for a long capture's ledgers). It now writes the same markup itself; this compares both, byte
for byte, on every table of the report of several captures (anchors, row status classes, cells
that need escaping included).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

import dissector
from dissector.report import tables
from dissector.report.content import build_content
from dissector.report.render import _TABLES, _frames

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ("faults_mix.pcapng", "fleet_20vms.pcapng", "reclaim_storm.pcapng", "malformed_truncated.pcapng")


def _by_styler(df: pd.DataFrame, spec: tables.TableSpec) -> str:
    shown = tables.display(df, spec)
    if shown.empty:
        return ""
    return str(tables._styler_html(shown, tables.anchors(df, spec), tables.statuses(df, spec), "tbl"))


@pytest.mark.parametrize("name", CAPTURES)
def test_every_report_table_as_styler_wrote_it(name: str) -> None:
    content = build_content(dissector.open(str(ROOT / "traces" / name)))
    frames = _frames(content)
    assert any(not df.empty for df in frames.values())
    for key, df in frames.items():
        spec = _TABLES[key][1]
        assert str(tables.html(df, spec)) == _by_styler(df, spec), key


def test_escaping_anchors_and_status_classes() -> None:
    spec = tables.TableSpec(
        (tables.Col("vmid", "VM", tables.vmid), tables.Col("text", "text")), anchor="frame", status="status"
    )
    df = pd.DataFrame(
        {
            "vmid": [0x80, 0x81, None],
            "text": ["a<b & 'c'", '"quoted"', ""],
            "frame": ["f<1>", "f2", "f3"],
            "status": ["error", None, "ledger"],
        }
    )
    got = str(tables.html(df, spec))
    assert got == _by_styler(df, spec)
    assert "a&lt;b &amp; &#39;c&#39;" in got and 'id="f&lt;1&gt;"' in got and "row-ledger" in got


@given(st.one_of(st.text(), st.integers(), st.none(), st.builds(Markup, st.text())))
def test_cells_escaped_as_markupsafe_escapes_them(value) -> None:
    from markupsafe import escape

    from dissector.report.tables import _escaped

    assert _escaped(value) == str(escape(value))


@given(st.lists(st.one_of(st.text(), st.text(alphabet="ab<&'\"> "), st.integers(), st.none())))
def test_columns_escaped_as_markupsafe_escapes_each_cell(values) -> None:
    from markupsafe import escape

    from dissector.report.tables import _escaped_column

    assert _escaped_column(values) == [str(escape(v)) for v in values]
