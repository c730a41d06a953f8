"""The report: every section, verdict lines pointing at real evidence, no external reference."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dissector.cli import main
from dissector.report import build_report, report_numbers
from dissector.report.content import build_content

from .conftest import TRACES

SECTIONS = ("verdict", "summary", "vms", "latency", "slow-windows", "errors", "findings", "ledgers")


class _Page(HTMLParser):
    """Ids, link targets and resource URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if a.get("href") is not None:
            self.hrefs.append(a["href"])
        if a.get("src") is not None:
            self.srcs.append(a["src"])


def _page(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def faults_html(faults_mix, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "faults.html"
    build_report(faults_mix, path)
    return path.read_text(encoding="utf-8")


def test_the_same_trace_gives_the_same_page(faults_mix, faults_html: str, tmp_path: Path) -> None:
    """No clock and no random ids in the page (matplotlib stamped each SVG with the time it was
    drawn and gave its clip paths random ids)."""
    build_report(faults_mix, tmp_path / "again.html")
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == faults_html


def test_every_section_is_present(faults_html: str) -> None:
    page = _page(faults_html)
    for section in SECTIONS:
        assert section in page.ids, section
    for heading in ("Verdict", "Summary", "VMs", "Service response time per call", "Slow windows"):
        assert f">{heading}</h2>" in faults_html
    assert ">Memory parcels</h2>" in faults_html and ">IRQs</h2>" in faults_html


def test_no_external_reference(faults_html: str) -> None:
    page = _page(faults_html)
    assert "script" not in page.tags and "link" not in page.tags
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    assert all(s.startswith("data:image/") for s in page.srcs), [s[:40] for s in page.srcs]
    without_data = re.sub(r"data:image/[^\"]+", "", faults_html)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", without_data, re.I), "external URL"
    assert "default-src 'none'" in faults_html  # the CSP forbids any fetch


def test_css_is_inline_and_not_escaped(faults_html: str) -> None:
    style = faults_html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".summary > div" in style and '"Segoe UI"' in style and "&gt;" not in style


def test_verdict_names_the_failed_vms_and_links_resolve(faults_mix, faults_html: str) -> None:
    content = build_content(faults_mix)
    failed = {line.subject for line in content.verdict if line.status == "failed"}
    # truth: 0x80's VM_GET_HYP_RESOURCES was never answered, 0x82's failed ARGUMENT_INVALID, 0x84
    # never got past LOAD; the two others booted
    assert failed == {"VM 0x80", "VM 0x82", "VM 0x84"}
    by_vm = {line.subject: line for line in content.verdict}
    assert "never answered" in by_vm["VM 0x80"].text
    assert "ARGUMENT_INVALID" in by_vm["VM 0x82"].text
    assert by_vm["VM 0x81"].status == "errors" and "VM_CONSOLE_WRITE" in by_vm["VM 0x81"].text
    ids = _page(faults_html).ids
    for line in content.verdict:
        for link in line.links:
            assert link.anchor in ids, (line.subject, link)
    # 0x84's own failure is named (the host's MEM_SHARE for it, by the generated vm field), and
    # the malformed message no VM owns is in the verdict too, with its frames
    assert "MEM_SHARE failed with NOMEM" in by_vm["VM 0x84"].text
    capture_lines = " ".join(line.text for line in content.verdict if line.subject == "capture")
    assert "api byte" in capture_lines


@pytest.mark.parametrize(
    ("name", "vm", "words"),
    [
        ("start_noresource.pcapng", "VM 0x80", ("NORESOURCE",)),
        ("watchdog_crash.pcapng", "VM 0x80", ("WATCHDOG_BITE", "Kernel panic")),
        ("hang.pcap", "VM 0x81", ("stopped by force", "BOOT")),
        ("hang.pcap", "VM 0x80", ("never deallocated", "RESETTING")),
    ],
)
def test_verdict_says_why(trace_of, name: str, vm: str, words: tuple[str, ...]) -> None:
    lines = {line.subject: line for line in build_content(trace_of(name)).verdict}
    assert lines[vm].status == "failed"
    for word in words:
        assert word in lines[vm].text


def test_a_cut_capture_is_not_a_failed_vm(trace_of) -> None:
    # truth: the capture was killed inside its last record, VM_DEALLOCATE's reply is not in it
    lines = build_content(trace_of("malformed_truncated.pcapng")).verdict
    by = {line.subject: line for line in lines}
    assert by["VM 0x80"].status == "errors" and "VM_DEALLOCATE" in by["VM 0x80"].text
    assert by["capture"].label == "error" and "file ends inside block" in by["capture"].text


def test_clean_trace_has_a_clean_verdict(trace_of) -> None:
    content = build_content(trace_of("fleet_20vms.pcapng"))
    assert content.verdict == []
    assert len(content.vms) == 20 and content.vms["boot_latency"].notna().all()


def test_json_holds_the_numbers(faults_mix, tmp_path: Path) -> None:
    path = build_report(faults_mix, tmp_path / "r.json", fmt="json")
    doc = json.loads(path.read_text())
    s = doc["summary"]
    tx = faults_mix.transactions
    assert s["messages"] == len(faults_mix.messages)
    assert s["error_replies"] == int((tx["status"] == "error").sum())
    assert s["unanswered"] == 1  # truth: one lost reply
    assert s["vms"] == [0x80, 0x81, 0x82, 0x83, 0x84]
    errors = {(e["name"], e["err_name"]): e["count"] for e in doc["errors"]}
    assert errors[("MEM_SHARE", "NOMEM")] == 2 and errors[("VM_CONSOLE_WRITE", "ARGUMENT_INVALID")] == 1
    srt = {r["name"]: r for r in doc["srt"]}
    assert srt["VM_CONSOLE_WRITE"]["calls"] == 19
    verdict = {(v["subject"], v["status"]) for v in doc["verdict"]}
    assert {("VM 0x80", "failed"), ("VM 0x82", "failed"), ("VM 0x84", "failed")} <= verdict
    assert doc["verdict"] == report_numbers(build_content(faults_mix))["verdict"]


def test_markdown_same_content(faults_mix, tmp_path: Path) -> None:
    path = build_report(faults_mix, tmp_path / "r.md", fmt="md")
    md = path.read_text()
    for heading in (
        "## Verdict",
        "## Summary",
        "## VMs",
        "## Service response time per call",
        "## Slow windows",
    ):
        assert heading in md
    assert "**VM 0x80** (failed)" in md and "(#vm-0x80-1)" in md and '<a id="vm-0x80-1"></a>' in md
    assert "| MEM_SHARE | NOMEM | 1 | -ENOMEM | 2 |" in md
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (tmp_path / image).is_file(), image


def test_cli_report_writes_each_format(tmp_path: Path, capsys) -> None:
    capture = str(TRACES / "start_noresource.pcapng")
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"r.{fmt}"
        assert main(["report", capture, "--format", fmt, "-o", str(out)]) == 0
        assert out.stat().st_size > 500
    assert "wrote" in capsys.readouterr().err


def test_cli_report_misuse_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "missing.pcapng"), "-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ghrm: error:") and err.count("\n") == 1
    # an output that cannot be written is a bad command line: exit 2, before any work (README)
    assert main(["report", str(TRACES / "hang.pcap"), "-o", str(tmp_path / "no" / "dir" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and err.count("\n") == 1


def test_slow_rm_verdict_leads_to_the_slow_window(slow_rm, tmp_path: Path) -> None:
    content = build_content(slow_rm)
    first = content.verdict[0]
    # truth: RM service x10 for one second from 2.03 s (traces/README.md); timing finds x9.1
    assert (first.subject, first.status) == ("RM", "slow") and "RM slow from 2.03" in first.text
    assert first.links[0].anchor == "slow-window-0"
    slow_vms = {line.subject for line in content.verdict if line.status == "slow" and line.subject != "RM"}
    assert slow_vms == {f"VM {v:#x} #2" for v in slow_rm.slow_windows["vmids"].iloc[0]}
    assert not any(line.status == "failed" for line in content.verdict)
    html = build_report(slow_rm, tmp_path / "slow.html").read_text()
    ids = _page(html).ids
    assert "slow-window-0" in ids and all(
        link.anchor in ids for line in content.verdict for link in line.links
    )
    windows = content.slow_windows
    assert len(windows) == 1 and 2.0 < windows["start"].iloc[0] < 2.1 and 3.0 < windows["end"].iloc[0] < 3.1


def test_several_captures_in_one_report(tmp_path: Path) -> None:
    captures = [str(TRACES / "start_noresource.pcapng"), str(TRACES / "watchdog_crash.pcapng")]
    out = tmp_path / "two.html"
    assert main(["report", *captures, "-o", str(out)]) == 0
    html = out.read_text()
    page = _page(html)
    # both captures' VM 0x80 failed, each with its own row anchor
    assert {"vm-0x80-1", "vm-0x80-1-c1"} <= page.ids
    assert all(h[1:] in page.ids for h in page.hrefs if h.startswith("#"))
    assert "NORESOURCE" in html and "WATCHDOG_BITE" in html


def test_many_slow_boots_without_a_slow_window_are_one_line() -> None:
    import pandas as pd

    from dissector.report.content import Link, VerdictLine, _group_crowded, _overlapping_boots

    n = 8  # eight VMs allocated together, each RUNNING 10 ms later than the one before
    vms = pd.DataFrame(
        {
            "capture": ["c"] * n,
            "vmid": [0x80 + i for i in range(n)],
            "anchor": [f"vm-{0x80 + i:#x}-1" for i in range(n)],
            "allocated_at": [0.0] * n,
            "first_seen": [0.0] * n,
            "running_at": [0.01 * (i + 1) for i in range(n)],
            "boot_latency": [0.01 * (i + 1) for i in range(n)],
        }
    )
    assert list(_overlapping_boots(vms)) == [n - 1] * n
    lines = [
        VerdictLine(f"VM {0x80 + i:#x}", "slow", "t", [Link("VM row", a)], kind="crowded")
        for i, a in enumerate(vms["anchor"])
    ]
    (one,) = _group_crowded(lines, vms, 0.005, n - 1)
    assert one.subject == "8 VMs" and "10.0-80.0 ms" in one.text and "up to 7 other boots" in one.text
    assert len(one.links) == 6 and one.links[0].anchor == "vm-0x80-1"
    assert _group_crowded(lines[:5], vms, 0.005, n - 1) == lines[:5]  # a few stay one line each


def test_overlapping_boots_counted_a_block_at_a_time_equal_the_whole_matrix() -> None:
    import numpy as np
    import pandas as pd

    from dissector.report.content import _overlapping_boots

    rng = np.random.default_rng(7)
    n = 50
    lo = rng.uniform(0, 10, n)
    hi = lo + rng.uniform(-0.5, 3, n)  # a few reversed intervals too
    hi[rng.random(n) < 0.2] = np.nan  # never ran
    allocated = np.where(rng.random(n) < 0.2, np.nan, lo)  # first_seen stands in
    vms = pd.DataFrame(
        {
            "capture": rng.choice(["a", "b"], n),
            "allocated_at": allocated,
            "first_seen": lo,
            "running_at": hi,
        }
    )
    same = vms["capture"].to_numpy()
    want = (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None]) & (same[:, None] == same[None, :])
    expected = np.maximum(want.sum(axis=1) - 1, 0)
    for block in (1, 7, 64):
        assert list(_overlapping_boots(vms, block=block)) == list(expected)


def test_dense_pictures_are_png_sized_like_the_svg_the_others_svg(faults_html: str) -> None:
    from dissector.report.figures import CSS_PX_PER_INCH, SECTIONS

    images = dict(re.findall(r'<figure id="fig-([a-z_]+)">\s*<img ([^>]*)>', faults_html))
    for spec in (s for specs in SECTIONS.values() for s in specs):
        if spec.key not in images:
            continue
        attrs = images[spec.key]
        assert f'src="data:image/{"png" if spec.web == "png" else "svg+xml"};base64,' in attrs, spec.key
        if spec.web == "png":  # shown at the size the SVG had (96 CSS px an inch), drawn at 1.5x that
            assert f'width="{round(spec.size[0] * CSS_PX_PER_INCH)}"' in attrs
    assert {"timeline", "latency_distribution", "message_rate"} <= set(images)


def test_report_leaves_the_garbage_collector_as_it_found_it(faults_mix, tmp_path: Path) -> None:
    import gc

    assert gc.get_freeze_count() == 0
    build_report(faults_mix, tmp_path / "r.json", fmt="json")
    assert gc.get_freeze_count() == 0  # frozen while it ran, thawed after
    gc.freeze()  # a caller's own freeze is not thawed
    try:
        frozen = gc.get_freeze_count()
        build_report(faults_mix, tmp_path / "r.json", fmt="json")
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
