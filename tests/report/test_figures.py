"""The report's shortcuts in drawing give the pictures matplotlib gives without them, byte for byte."""

from __future__ import annotations

import pytest

from dissector.report import figures, render
from dissector.report.content import build_content

# sequence diagrams of failed VMs (faults_mix), slow windows and outlier rings (slow_rm), many lanes
# (fleet_20vms), several queue pairs (multi_queue)
SHOWCASES = ("faults_mix.pcapng", "slow_rm.pcapng", "fleet_20vms.pcapng", "multi_queue.pcapng")


def _every_picture(trace) -> list[figures.Figure]:
    """The page's pictures, chosen as the page chooses them."""
    drawn = render._figures(trace, build_content(trace, None), ("web",))
    return [f for section in drawn.values() for f in section]


@pytest.mark.parametrize("name", SHOWCASES)
def test_fixed_titles_draw_what_placed_titles_draw(trace_of, name: str, monkeypatch) -> None:
    trace = trace_of(name)
    fixed = _every_picture(trace)
    monkeypatch.setattr(figures, "FIXED_TITLES", {})
    placed = _every_picture(trace)
    assert [f.missing for f in fixed] == [None] * len(fixed)
    assert [(f.key, f.svg, f.png) for f in fixed] == [(f.key, f.svg, f.png) for f in placed]


def _pixels(png: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.parametrize("size", [(11, 3.5), (11, 9.45), (7.3, 2.15)])
def test_opaque_png_has_matplotlibs_pixels_without_alpha(trace_of, size) -> None:
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from dissector.plots import plot_lifecycle_timeline

    def first_draw(save) -> bytes:  # a figure drawn again is not always drawn the same
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        try:
            plot_lifecycle_timeline(trace_of("faults_mix.pcapng"), ax=ax, collection=True)
            return save(fig)
        finally:
            plt.close(fig)

    def theirs(fig) -> bytes:
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=figures.WEB_DPI)
        return out.getvalue()

    ours = first_draw(lambda fig: figures.opaque_png(fig, figures.WEB_DPI))
    assert Image.open(io.BytesIO(ours)).mode == "RGB"
    assert (_pixels(ours) == _pixels(first_draw(theirs))).all()


def test_a_transparent_picture_stays_matplotlibs_png() -> None:
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    fig.patch.set_alpha(0.0)
    ax.patch.set_alpha(0.0)
    ax.plot([0, 1], [0, 1])
    try:
        ours = figures.opaque_png(fig, figures.WEB_DPI)
        theirs = io.BytesIO()
        fig.savefig(theirs, format="png", dpi=figures.WEB_DPI)
    finally:
        plt.close(fig)
    assert ours == theirs.getvalue()
