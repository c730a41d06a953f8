"""The report's shortcuts in drawing give the pictures matplotlib gives without them, byte for byte."""

from __future__ import annotations

import pytest

from dissector.report import figures
from dissector.report.content import build_content

# a sequence diagram per failed VM, slow windows and outliers, a lane per VM (fleet), two captures'
# worth of lanes, and a trace with no error reply
SHOWCASES = ("faults_mix.pcapng", "slow_rm.pcapng", "fleet_20vms.pcapng", "multi_queue.pcapng")


def _every_picture(trace) -> list[figures.Figure]:
    c = build_content(trace, None)
    failed = [int(v.subject.split()[1].split("#")[0], 16) for v in c.verdict if v.status == "failed"]
    specs = [(s, ()) for group in figures.SECTIONS.values() for s in group]
    specs += [(figures.SEQUENCE, (vm,)) for vm in dict.fromkeys(failed)]
    return [figures.draw(spec, trace, *args, formats=("web",)) for spec, args in specs]


@pytest.mark.parametrize("name", SHOWCASES)
def test_fixed_titles_draw_what_placed_titles_draw(trace_of, name: str, monkeypatch) -> None:
    trace = trace_of(name)
    fixed = _every_picture(trace)
    monkeypatch.setattr(figures, "FIXED_TITLES", {})
    placed = _every_picture(trace)
    assert [f.missing for f in fixed] == [None] * len(fixed)
    assert [(f.key, f.svg, f.png) for f in fixed] == [(f.key, f.svg, f.png) for f in placed]
