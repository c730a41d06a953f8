"""Which picture goes in which report section: the one place the report calls ``dissector.plots``.

Why one module: the plot functions are built beside the report; the report only names them here,
draws each on its own figure and encodes it (SVG for HTML, PNG files for Markdown). A plot that is
missing or fails leaves a sentence in its place instead of breaking the whole report.
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

    def figsize(self, trace: Any) -> tuple[float, float]:
        if not self.per_lane:
            return self.size
        lanes = len(trace.lifecycle_summary)
        return self.size[0], min(self.max_height, max(self.size[1], 1.2 + self.per_lane * lanes))


# section -> pictures, in page order
SECTIONS: dict[str, tuple[FigureSpec, ...]] = {
    "vms": (
        FigureSpec(
            "timeline",
            "plot_lifecycle_timeline",
            "VM lifecycles: one lane per VM instance, states as bars; errors, unanswered calls and "
            "findings marked",
            (11, 3.5),
            kwargs={"collection": True},  # one artist for hundreds of bars: same picture, far faster
            per_lane=0.25,
        ),
    ),
    "latency": (
        FigureSpec("latency_distribution", "plot_latency_distribution", "Latency per call", (11, 5)),
        FigureSpec(
            "latency_over_time",
            "plot_latency_over_time",
            "Every call's latency over time (errors highlighted, slow windows shaded)",
            (11, 4),
        ),
        FigureSpec("message_rate", "plot_message_rate", "Messages per second, per direction", (11, 3.2)),
    ),
    "errors": (FigureSpec("error_heatmap", "plot_error_heatmap", "Error replies: call x error", (8, 3.5)),),
}
# failed VMs also get their exchange as a sequence diagram (the first few)
SEQUENCE = FigureSpec("sequence", "plot_sequence_diagram", "Exchange of VM {vm}", (10, 7))
MAX_SEQUENCES = 3


@dataclass
class Figure:
    """A drawn picture: SVG text (HTML) and PNG bytes (Markdown), or why there is none."""

    key: str
    caption: str
    svg: str | None = None
    png: bytes | None = None
    missing: str | None = None
    path: str | None = None  # where the Markdown report wrote the PNG, relative to it

    @property
    def svg_data_uri(self) -> str | None:
        if self.svg is None:
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def _plot_function(name: str) -> Callable[..., Any] | None:
    try:
        plots = importlib.import_module("dissector.plots")
    except ImportError:
        return None
    return getattr(plots, name, None)


def draw(spec: FigureSpec, trace: Any, *args: Any, formats: tuple[str, ...] = ("svg",)) -> Figure:
    """Draw one picture; a missing or failing plot gives a Figure with ``missing`` set."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    caption = spec.caption.format(vm=", ".join(f"{a:#x}" for a in args if isinstance(a, int)))
    function = _plot_function(spec.function)
    if function is None:
        return Figure(spec.key, caption, missing=f"picture not available: dissector.plots.{spec.function}")
    fig, ax = plt.subplots(figsize=spec.figsize(trace), layout="constrained")
    try:
        function(trace, *args, ax=ax, **spec.kwargs)
        out = Figure(spec.key, caption)
        if "svg" in formats:
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
            out.svg = buf.getvalue()
        if "png" in formats:
            raw = io.BytesIO()
            fig.savefig(raw, format="png", dpi=110)
            out.png = raw.getvalue()
        return out
    except Exception as exc:  # a picture must not take the report down with it
        log.warning("plot %s failed: %s", spec.function, exc)
        return Figure(spec.key, caption, missing=f"picture not drawn: {spec.function} failed ({exc})")
    finally:
        plt.close(fig)


def section_figures(
    trace: Any, sections: dict[str, bool], failed_vms: list[int], formats: tuple[str, ...]
) -> dict[str, list[Figure]]:
    """Every picture of the report, by section; ``sections`` says which sections have data."""
    out: dict[str, list[Figure]] = {}
    for section, specs in SECTIONS.items():
        if sections.get(section, True):
            out[section] = [draw(spec, trace, formats=formats) for spec in specs]
    out["sequences"] = [draw(SEQUENCE, trace, vm, formats=formats) for vm in failed_vms[:MAX_SEQUENCES]]
    return out
