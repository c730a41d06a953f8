"""Rich reprs: the Trace summary card, a message's tree and hex dump, and the table Styler.

The HTML is parsed (``xml.etree`` for the markup ghrm writes itself, ``html.parser`` with a
tag-balance check for pandas' Styler) and its text checked against known answers of the
bundled traces (``traces/README.md``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import dissector
from dissector.display import duration, hex_id, percent, ranges, size, style, timestamp

TRACES = Path(__file__).resolve().parent.parent / "traces"
VOID = {"br", "hr", "img", "meta", "input", "col", "link"}


class _Balanced(HTMLParser):
    """Collects text and fails on a closing tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.cells: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr":
            self.cells.append([])

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack and self.stack[-1] in ("td", "th") and self.cells:
            self.cells[-1].append(data.strip())


def _parse_html(markup: str) -> _Balanced:
    parser = _Balanced()
    parser.feed(markup)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def _xml_text(markup: str) -> str:
    root = ET.fromstring(markup)  # well-formed XML, not only tolerable HTML
    return " ".join(" ".join(root.itertext()).split())


@pytest.fixture(scope="module")
def noresource():
    return dissector.open(str(TRACES / "start_noresource.pcapng"))


def test_trace_card_shows_the_summary_numbers(noresource):
    text = _xml_text(noresource._repr_html_())
    # traces/README.md: 9 requests / 9 replies / 6 notifications; VM_START NORESOURCE x1 for VM 0x80
    assert "24: 9 requests, 9 replies, 6 notifications" in text
    assert "error replies (1) VM_START NORESOURCE x1" in text
    assert "VMs (1), final state 0x80 DEALLOCATED" in text
    assert "clients 0x3" in text
    assert "2 warning" in text and "1 chat" in text and "error " not in text.split("findings")[1][:12]
    assert "2026-01-01 00:00:00.002335 UTC" in text  # trace.start, to the microsecond (cut)
    assert "to 0.009043 s after the capture start" in text
    for table in ("trace.findings (3 rows)", "trace.transactions (9 rows)", "trace.memparcels (1 rows)"):
        assert table in text
    assert "trace.plot.lifecycle_timeline() pictures:" in text
    assert not re.search(r"\b128\b", text)  # VMID 0x80 never in decimal


def test_trace_card_of_a_fleet_counts_every_vm_and_the_plain_repr_stays_short():
    trace = dissector.open(str(TRACES / "fleet_20vms.pcapng"))
    text = _xml_text(trace._repr_html_())
    assert "VMs (20), final state" in text and text.count("DEALLOCATED") == 20  # README: 20 instances
    assert "774 requests, 774 replies, 553 notifications" in text
    assert "error replies (0) none" in text
    plain = repr(trace)
    assert "\n" not in plain and len(plain) < 120 and "2101 messages" in plain


def test_window_card_says_so(noresource):
    text = _xml_text(noresource.window(0.005, None)._repr_html_())
    assert text.startswith("ghrm Trace window") and "a window of it" in text


def test_message_repr_is_its_summary_line(noresource):
    assert repr(noresource.message(15)) == "frame 15 ->RM vm0x3 Request VM_START seq=5 vmid=0x80"
    assert repr(noresource.message(16)) == "frame 16 RM-> vm0x3 Reply VM_START seq=5 err=NORESOURCE"


def test_message_html_shows_tree_and_hexdump_side_by_side(noresource):
    markup = noresource.message(15)._repr_html_()
    root = ET.fromstring(markup)
    text = " ".join(" ".join(root.itertext()).split())
    assert "Request VM_START seq=5 vmid=0x80" in text
    t15 = float(noresource.messages.set_index("frame").loc[15, "t"])
    assert noresource.message(15).t == t15 and f"(t = {t15:.6f} s since the capture start)" in text
    assert "msg_id: VM_START (0x56000004)" in text and "vmid: 0x80" in text
    assert "0000 21 01 05 00 04 00 00 56 80 00 00 00" in text  # the 12 bytes, from offset 0
    flex = [e for e in root.iter("div") if "display: flex" in e.get("style", "")]
    assert len(flex) == 1 and len(list(flex[0])) == 2  # tree | hex dump


def test_message_html_of_a_long_list_closes_its_entries():
    trace = dissector.open(str(TRACES / "faults_mix.pcapng"))
    root = ET.fromstring(trace.message(4)._repr_html_())  # MEM_LEND with 31 SGL entries
    entries = [d for d in root.iter("details") if "MemEntry #" in (d.findtext("summary") or "")]
    assert len(entries) == 31 and all(d.get("open") is None for d in entries)
    assert "MemEntry #0: ipa_base=0x880027000, size=0x2426000" in entries[0].findtext("summary")


def test_style_shows_hex_ids_times_with_units_and_whole_findings():
    trace = dissector.open(str(TRACES / "faults_mix.pcapng"))
    findings = trace.findings
    parsed = _parse_html(style(findings).to_html())
    header = next(row for row in parsed.cells if "severity" in row)
    rows = [r for r in parsed.cells if r and r != header]
    assert len(rows) == len(findings)
    col = {name: i for i, name in enumerate(header)}
    for row, (_, f) in zip(rows, findings.iterrows(), strict=True):
        assert row[col["vmid"]] == hex_id(f["vmid"])
        assert row[col["t"]] == f"{f['t']:.6f} s"
        assert row[col["time"]].endswith(" UTC")
        assert row[col["text"]] == f["text"]  # never cut
    markup = style(findings).to_html()
    assert "#f8d7da" in markup and "#fff3cd" in markup  # error and warning colours
    tx = _parse_html(style(trace.transactions, rows=5).to_html())
    head = next(row for row in tx.cells if "msg_id" in row)
    first = tx.cells[tx.cells.index(head) + 1]
    assert first[head.index("msg_id")] == "0x56000001" and first[head.index("vmid")] == "0x80"
    assert (
        first[head.index("latency_ms")].endswith(" ms") and first[head.index("request_time")] == "0.000000 s"
    )
    assert "first 5 of 84 rows" in " ".join(tx.text)


def test_value_formatters():
    assert hex_id((0x80, 0x81)) == "0x80, 0x81" and hex_id(None) == "\u2013"
    assert size(512 * 2**20) == "0x20000000 (512 MiB)" and size(4096) == "0x1000 (4 KiB)"
    assert percent(456.37) == "+456.4 %" and ranges([4, 5, 6, 9, 11, 12]) == "4-6, 9, 11-12"
    assert (
        duration(0.0000854) == "85.4 µs"
        and duration(0.007429) == "7.429 ms"
        and duration(1.9915) == "1.992 s"
    )
    import pandas as pd

    assert (
        timestamp(pd.Timestamp(1767225600_002335720, unit="ns", tz="UTC")) == "2026-01-01 00:00:00.002335 UTC"
    )
