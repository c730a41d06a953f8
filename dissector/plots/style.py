"""The one colour map for VM states, the one for calls, and how a plot gets its Axes.

Why fixed maps: the same state or call has the same colour in every plot, report and notebook
of every trace, so a reader learns them once. States follow the boot story (blue while the VM is
built, green running, orange/purple leaving, red failed); calls get a colour by their place in
the protocol tables (stable across traces and dialects: keyed by message id when known).
"""

from __future__ import annotations

import os
import sys
import zlib
from functools import cache
from typing import Any

STATE_COLORS: dict[str, str] = {
    "NONE": "#d9d9d9",
    "LOAD": "#9ecae1",
    "AUTH": "#c6dbef",
    "INIT": "#6baed6",
    "READY": "#2171b5",
    "RUNNING": "#41ab5d",
    "PAUSED": "#fee391",
    "EXITED": "#fd8d3c",
    "RESETTING": "#9e9ac8",
    "RESET": "#bdbdbd",
    "INIT_FAILED": "#e31a1c",
    "RESET_FAILED": "#99000d",
}
OTHER_STATE = "#969696"

ERROR_COLOR = "#d62728"  # error replies, everywhere
UNANSWERED_COLOR = "#ff7f0e"
FINDING_COLOR = "#7b3294"
SLOW_COLOR = "#fdae61"  # slow-window shading
NORMAL_ARROW = "#4d4d4d"
_RESERVED = {"#d62728", "#e41a1c", "#ffff33"}  # tab10 and Set1 reds (red: an error reply); a yellow too pale

# slices of matplotlib's qualitative maps, strong colours first: 85, more than the protocol has messages
_PALETTE_SLICES = (
    ("tab10", 0, 1),
    ("Dark2", 0, 1),
    ("Set1", 0, 1),
    ("tab20b", 0, 4),
    ("tab20b", 1, 4),
    ("tab20c", 0, 4),
    ("tab20c", 1, 4),
    ("tab20", 1, 2),
    ("tab20b", 2, 4),
    ("tab20b", 3, 4),
    ("tab20c", 2, 4),
    ("tab20c", 3, 4),
    ("Set2", 0, 1),
)
# families most captures are made of come first, so they get the strong colours
_FAMILY_ORDER = ("vm_lifecycle", "memory", "irq", "config", "vm_query", "services", "firmware", "ipa")
TIME_LABEL = "time (s since capture start)"


def state_color(state: object) -> str:
    """The colour of a VM state name (grey for a state this map does not know)."""
    return STATE_COLORS.get(str(state), OTHER_STATE)


@cache
def _call_ranks() -> dict[str, int]:
    from dissector.protocol import registry

    names: dict[str, int] = {}

    def key(m: Any) -> tuple[int, int]:
        family = m.family.value
        return (_FAMILY_ORDER.index(family) if family in _FAMILY_ORDER else len(_FAMILY_ORDER), m.msg_id)

    ordered = sorted(registry.messages(), key=key)
    for rank, m in enumerate(ordered):
        for alias in (m.name, *m.aliases):
            names.setdefault(alias, rank)
    return names


def call_color(name: object) -> str:
    """The colour of a call (or notification) name; unknown names hash into the same palette."""
    text = str(name)
    rank = _call_ranks().get(text)
    if rank is None:
        rank = zlib.crc32(text.encode())
    palette = _palette()
    return palette[rank % len(palette)]


@cache
def _palette() -> tuple[str, ...]:
    import matplotlib
    from matplotlib.colors import to_hex

    colours = (
        to_hex(c)
        for name, first, step in _PALETTE_SLICES
        for c in matplotlib.colormaps[name].colors[first::step]  # type: ignore[attr-defined]  # listed maps
    )
    return tuple(c for c in colours if c not in _RESERVED)


def pyplot() -> Any:
    """matplotlib.pyplot, on the Agg backend when nothing else was chosen and there is no display."""
    import matplotlib

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axes(ax: Any, size: tuple[float, float]) -> Any:
    """``ax`` itself, or the Axes of a new figure of ``size`` inches."""
    if ax is not None:
        return ax
    _fig, new = pyplot().subplots(figsize=size, layout="constrained")
    return new
