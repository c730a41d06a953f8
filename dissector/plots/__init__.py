"""matplotlib pictures of a trace's tables, each ``plot_<name>(trace_or_table, ..., ax=None) -> Axes``.

Why functions over tables (LISA's convention): each works alone in a notebook on a ``Trace`` or
on the table it draws (filtered as you like), draws into the ``ax`` you pass or a new figure,
and returns the Axes so you can adjust it. ``trace.plot.<name>(...)`` is the same function with
the trace filled in. matplotlib is imported only when a plot is drawn (``import dissector``
does not load it), with the Agg backend when there is no display.

Every time axis is in seconds since the capture start (its first record); VM states and calls
have one colour each, everywhere (``dissector.plots.style``).
"""

from __future__ import annotations

import importlib
from typing import Any

_PLOTS = {
    "plot_lifecycle_timeline": "dissector.plots.lifecycle",
    "plot_latency_distribution": "dissector.plots.latency",
    "plot_latency_over_time": "dissector.plots.latency",
    "plot_message_rate": "dissector.plots.rate",
    "plot_error_heatmap": "dissector.plots.errors",
    "plot_sequence_diagram": "dissector.plots.sequence",
}

__all__ = ["PlotAccessor", *sorted(_PLOTS)]


def __getattr__(name: str) -> Any:
    """Lazy exports: a plot module (and matplotlib) loads when first asked for."""
    module = _PLOTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dissector.plots' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


class PlotAccessor:
    """``trace.plot.<name>(...)``: the ``plot_<name>`` functions with this trace filled in."""

    def __init__(self, trace: Any) -> None:
        self._trace = trace

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        func_name = f"plot_{name}"
        if func_name not in _PLOTS:
            names = ", ".join(n.removeprefix("plot_") for n in sorted(_PLOTS))
            raise AttributeError(f"no plot {name!r}; plots: {names}")
        func = __getattr__(func_name)

        def bound(*args: Any, **kwargs: Any) -> Any:
            return func(self._trace, *args, **kwargs)

        bound.__doc__ = func.__doc__
        bound.__name__ = name
        return bound

    def __dir__(self) -> list[str]:
        return [n.removeprefix("plot_") for n in sorted(_PLOTS)]

    def __repr__(self) -> str:
        return f"<plots of {self._trace!r}: {', '.join(self.__dir__())}>"
