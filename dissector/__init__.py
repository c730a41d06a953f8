"""ghrm: dissector and trace analyzer for the Gunyah hypervisor Resource Manager RPC protocol.

``dissector.open(path)`` reads one capture (or a list of them) into a ``Trace`` whose
attributes are pandas tables: messages, transactions, srt, errors, lifecycles,
lifecycle_summary, memparcels, irqs, findings, slow_windows, problems.
``dissector.fleet(paths_or_globs)`` gives the same tables but slow_windows for many captures, as
Dask DataFrames (``dissector.fleet``). Heavy imports (pandas, Scapy, Dask) happen on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dissector.trace import Trace

__all__ = ["Trace", "fleet", "open"]


def open(paths: Any, **options: Any) -> Trace:
    """Read captures into a ``Trace``; see ``dissector.trace.open_trace`` for the options."""
    from dissector.trace import open_trace

    return open_trace(paths, **options)


def __getattr__(name: str) -> Any:
    """``dissector.Trace`` without importing pandas at ``import dissector`` time."""
    if name == "Trace":
        from dissector.trace import Trace

        return Trace
    if name == "fleet":  # the package is callable: dissector.fleet(paths_or_globs, ...)
        import importlib

        return importlib.import_module("dissector.fleet")
    raise AttributeError(f"module 'dissector' has no attribute {name!r}")
