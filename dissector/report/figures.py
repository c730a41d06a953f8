"""Which picture goes in which report section: the one place the report calls ``dissector.plots``.

Why one module: the plot functions are built beside the report; the report only names them here,
draws each on its own figure and encodes it (for HTML each picture in its own ``web`` format, for
Markdown PNG files). A plot that is missing or fails leaves a sentence in its place instead of
breaking the whole report.

Why PNG for some pictures of the page and SVG for others (figures on the 1M-message benchmark
capture, 2,273 VM instances, 469k calls): the lifecycle timeline is thousands of bars (SVG 5.2 MB
and 3.4 s to write, PNG 0.5 MB and 1.2 s), the latency pictures hundreds of thousands of points
(SVG 1.3 MB, PNG 0.15 MB); the message rate, the error heatmap and the sequence diagrams are a few
lines, cells and labels, as small and as fast in SVG (the diagrams faster) and sharp at any zoom.
PNGs are drawn at ``WEB_DPI`` (1.5 pixels per CSS pixel: sharp on most screens) and shown at the
size the SVG would have.
"""

from __future__ import annotations

import base64
import importlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

WEB_DPI = 144  # PNGs of the HTML page: 1.5 device pixels per CSS pixel
CSS_PX_PER_INCH = 96  # what a browser shows an SVG (points) and a sized <img> at
MARKDOWN_DPI = 110
# SVG text as <text> in DejaVu Sans (falling back to Verdana, Arial ...), not a path per glyph: the
# SVGs are 40-70 % smaller and 15-30 % faster to write (heatmap 123 -> 69 kB, a sequence diagram
# 273 -> 76 kB on the 1M capture); positions and anchors are matplotlib's either way
SVG_FONTTYPE = "none"
# Titles at their place (1.0, the pad above the Axes) without matplotlib searching every draw for
# something to dodge: left alone, each title measures its Axes' y tick labels (all of them, for the
# offset text) three times a picture, in both layout passes and the draw: ~10 % of the pictures' CPU
# at 1M. It would only move a title above x tick labels at the top (no picture has them) or a y
# offset text ("1e6") it overlaps (at the Axes' top left; the titles are centred and far shorter
# than their Axes): the same pictures, byte for byte (tests/report/test_figures.py draws both).
FIXED_TITLES: dict[Any, Any] = {"axes.titley": 1.0}  # Any: matplotlib types the keys as literals


@dataclass(frozen=True)
class FigureSpec:
    """One picture of a section: the ``dissector.plots`` function, its size and caption."""

    key: str
    function: str
    caption: str
    size: tuple[float, float]
    kwargs: dict[str, Any] = field(default_factory=dict)
    per_lane: float = 0.0  # inches of height per VM instance (the timeline grows with the fleet)
    max_height: float = 16.0
    web: str = "svg"  # how the HTML page embeds it: "svg" (few elements) or "png" (dense)

    fleet_caption: str | None = None  # the caption when the timeline draws a lane per VM, not per instance
    # CPU seconds to draw it on the 1M benchmark capture (``bench_report.py --size 1M``): how the
    # pictures are shared between this process and a forked child (``Drawing``)
    cost: float = 0.2

    def lanes(self, trace: Any) -> tuple[int, bool]:
        """How many lanes the picture has, and whether they are VMs (not VM instances)."""
        summary = trace.lifecycle_summary
        try:
            from dissector.plots.lifecycle import lane_count
        except ImportError:
            return len(summary), False
        n = lane_count(summary, self.kwargs.get("lanes", "instance"))
        return n, n != len(summary) or self.kwargs.get("lanes") == "vm"

    def figsize(self, trace: Any) -> tuple[float, float]:
        if not self.per_lane:
            return self.size
        lanes, _ = self.lanes(trace)
        return self.size[0], min(self.max_height, max(self.size[1], 1.2 + self.per_lane * lanes))

    def caption_for(self, trace: Any, args: tuple[Any, ...]) -> str:
        caption = self.caption
        if self.fleet_caption is not None and self.lanes(trace)[1]:
            caption = self.fleet_caption
        return caption.format(vm=", ".join(f"{a:#x}" for a in args if isinstance(a, int)))


# section -> pictures, in page order
SECTIONS: dict[str, tuple[FigureSpec, ...]] = {
    "vms": (
        FigureSpec(
            "timeline",
            "plot_lifecycle_timeline",
            "VM lifecycles: one lane per VM instance, states as bars; errors, unanswered calls and "
            "findings marked",
            (11, 3.5),
            # one artist for thousands of bars (same picture, far faster); past plots.lifecycle's
            # AUTO_VM_LANES instances, a lane per VM (a lane per instance would be under a pixel)
            kwargs={"collection": True, "lanes": "auto", "max_labels": 80},
            per_lane=0.25,
            web="png",
            fleet_caption="VM lifecycles: one lane per VM, its instances one after another, states as bars; "
            "errors, unanswered calls, findings and abnormal exits marked",
            cost=0.37,
        ),
    ),
    "latency": (
        FigureSpec(
            "latency_distribution",
            "plot_latency_distribution",
            "Latency per call",
            (11, 5),
            web="png",
            cost=0.24,
        ),
        FigureSpec(
            "latency_over_time",
            "plot_latency_over_time",
            "Every call's latency over time (errors highlighted, slow windows shaded)",
            (11, 4),
            web="png",
            cost=0.22,
        ),
        FigureSpec(
            "message_rate", "plot_message_rate", "Messages per second, per direction", (11, 3.2), cost=0.1
        ),
    ),
    "errors": (
        FigureSpec("error_heatmap", "plot_error_heatmap", "Error replies: call x error", (8, 3.5), cost=0.17),
    ),
}
# failed VMs also get their exchange as a sequence diagram (the first few)
SEQUENCE = FigureSpec("sequence", "plot_sequence_diagram", "Exchange of VM {vm}", (10, 7), cost=0.15)
MAX_SEQUENCES = 3


@dataclass
class Figure:
    """A drawn picture: SVG text and/or PNG bytes, or why there is none."""

    key: str
    caption: str
    svg: str | None = None
    png: bytes | None = None
    missing: str | None = None
    path: str | None = None  # where the Markdown report wrote the PNG, relative to it
    size: tuple[int, int] | None = None  # CSS pixels the page shows it at (width, height)

    @property
    def svg_data_uri(self) -> str | None:
        if self.svg is None:
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()

    @property
    def data_uri(self) -> str | None:
        """The picture for an ``<img src>``: the SVG if drawn, else the PNG."""
        if self.svg is not None:
            return self.svg_data_uri
        if self.png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def _plot_function(name: str) -> Callable[..., Any] | None:
    try:
        plots = importlib.import_module("dissector.plots")
    except ImportError:
        return None
    return getattr(plots, name, None)


def draw(spec: FigureSpec, trace: Any, *args: Any, formats: tuple[str, ...] = ("svg",)) -> Figure:
    """Draw one picture; a missing or failing plot gives a Figure with ``missing`` set.

    ``formats``: "svg", "png" (Markdown's files), or "web": the spec's own choice for the page."""
    load_matplotlib()
    import matplotlib
    import matplotlib.pyplot as plt

    caption = spec.caption_for(trace, args)
    function = _plot_function(spec.function)
    if function is None:
        return Figure(spec.key, caption, missing=f"picture not available: dissector.plots.{spec.function}")
    size = spec.figsize(trace)
    with matplotlib.rc_context(FIXED_TITLES):
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    try:
        with matplotlib.rc_context(FIXED_TITLES):
            function(trace, *args, ax=ax, **spec.kwargs)
        out = Figure(spec.key, caption)
        if "svg" in formats or ("web" in formats and spec.web == "svg"):
            buf = io.StringIO()
            # no clock and no random ids in the picture: the same trace gives the same report
            with matplotlib.rc_context({"svg.fonttype": SVG_FONTTYPE, "svg.hashsalt": spec.key}):
                fig.savefig(buf, format="svg", metadata={"Date": None})
            out.svg = buf.getvalue()
        if "web" in formats and spec.web == "png":
            out.png = opaque_png(fig, WEB_DPI)
            out.size = (round(size[0] * CSS_PX_PER_INCH), round(size[1] * CSS_PX_PER_INCH))
        elif "png" in formats:
            raw = io.BytesIO()
            fig.savefig(raw, format="png", dpi=MARKDOWN_DPI)
            out.png = raw.getvalue()
        return out
    except Exception as exc:  # a picture must not take the report down with it
        log.warning("plot %s failed: %s", spec.function, exc)
        return Figure(spec.key, caption, missing=f"picture not drawn: {spec.function} failed ({exc})")
    finally:
        plt.close(fig)


def opaque_png(fig: Any, dpi: float) -> bytes:
    """``fig`` as PNG: matplotlib's pixels, saved as RGB when every one is opaque (a report
    picture's are: white figure, no transparency), as matplotlib's RGBA PNG otherwise.

    Why: the alpha channel of an opaque picture is a quarter of the bytes zlib compresses, all 255.
    Without it the timeline's PNG at 1M is 11 % smaller (350 -> 312 kB) and compressed in 20 %
    less time; the page shows the same pixels. The size of the RGBA buffer is the figure's at
    ``dpi`` as matplotlib's Agg canvas takes it (``int(inches * dpi)``); anything else falls back.
    """
    import matplotlib
    import numpy as np
    from PIL import Image, PngImagePlugin

    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    width, height = int(fig.get_figwidth() * dpi), int(fig.get_figheight() * dpi)
    rgba = np.frombuffer(raw.getbuffer(), np.uint8)
    if rgba.size != width * height * 4 or rgba[3::4].min(initial=255) != 255:
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=dpi)
        return png.getvalue()
    image = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    info = PngImagePlugin.PngInfo()  # what matplotlib writes beside its pixels
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    png = io.BytesIO()
    image.save(png, format="png", pnginfo=info, dpi=(dpi, dpi))
    return png.getvalue()


def picture_plan(
    sections: dict[str, bool], failed_vms: list[int]
) -> dict[str, list[tuple[FigureSpec, tuple[int, ...]]]]:
    """The pictures the report draws, by section, each as (spec, arguments): ``sections`` says
    which sections have data, ``failed_vms`` (in verdict order) get sequence diagrams."""
    none: tuple[int, ...] = ()
    plan = {
        section: [(spec, none) for spec in specs]
        for section, specs in SECTIONS.items()
        if sections.get(section, True)
    }
    plan["sequences"] = [(SEQUENCE, (vm,)) for vm in failed_vms[:MAX_SEQUENCES]]
    return plan


def section_figures(
    trace: Any, sections: dict[str, bool], failed_vms: list[int], formats: tuple[str, ...]
) -> dict[str, list[Figure]]:
    """Every picture of the report, by section (``picture_plan``), drawn (``Drawing``)."""
    return Drawing(trace, sections, failed_vms, formats).figures()


class Drawing:
    """The report's pictures (``picture_plan``), shared with a forked child where one can be
    (``dissector.forked``): the child's share starts at once, this process's is drawn by
    ``figures()``, so the caller can do other work in between (``busy``: its CPU seconds, which
    the share counts). The same pictures, in the same places, either way."""

    def __init__(
        self,
        trace: Any,
        sections: dict[str, bool],
        failed_vms: list[int],
        formats: tuple[str, ...],
        *,
        busy: float = 0.0,
    ) -> None:
        from dissector.forked import Beside

        self.trace, self.formats = trace, formats
        self.plan = picture_plan(sections, failed_vms)
        self.jobs = [(spec, args) for drawn in self.plan.values() for spec, args in drawn]
        self.here, self.there = share([spec.cost for spec, _ in self.jobs], busy=busy)
        self.beside: Beside[list[Figure]] | None = None
        if self.there:
            self.beside = Beside(lambda: [self._draw(k) for k in self.there])
        if self.beside is None or not self.beside.forked:  # no child: all drawn here, in page order
            self.here, self.there = list(range(len(self.jobs))), []

    def _draw(self, k: int) -> Figure:
        spec, args = self.jobs[k]
        return draw(spec, self.trace, *args, formats=self.formats)

    def figures(self) -> dict[str, list[Figure]]:
        """The pictures by section, in page order (this process's share drawn now)."""
        drawn = {k: self._draw(k) for k in self.here}
        if self.beside is not None and self.there:
            drawn.update(zip(self.there, self.beside.result(), strict=True))
        order = iter(range(len(self.jobs)))
        return {section: [drawn[next(order)] for _ in pictures] for section, pictures in self.plan.items()}


def share(costs: list[float], *, busy: float = 0.0) -> tuple[list[int], list[int]]:
    """Jobs ``costs`` (indices) shared between this process (already ``busy`` for so long) and a
    child, the costliest first to the less loaded (ties to this process): near the least time for
    both, and the same split for the same costs."""
    load = [busy, 0.0]
    parts: tuple[list[int], list[int]] = ([], [])
    for k in sorted(range(len(costs)), key=lambda k: -costs[k]):
        w = 0 if load[0] <= load[1] else 1
        parts[w].append(k)
        load[w] += costs[k]
    return sorted(parts[0]), sorted(parts[1])


def load_matplotlib() -> None:
    """Import matplotlib and pyplot, on Agg unless a backend was chosen (the report's one rule
    for it, ``draw`` calls it): ``ghrm report`` calls it early, while a forked child builds the
    ledgers, where it would otherwise wait for the child (~0.3 s)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot  # the import is the point
