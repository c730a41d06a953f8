"""Reports of RM captures: ``build_report`` (HTML/Markdown/JSON), ``diff`` (two captures,
with statistical tests), Perfetto/Chrome trace export and table export.

``ghrm report``, ``ghrm diff`` and ``ghrm export`` (``dissector.report.cli``) are thin wrappers.
The names below are imported on first use, so ``ghrm decode`` does not pay for SciPy or Jinja2.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Diff": "compare",
    "diff": "compare",
    "render_diff": "diff_render",
    "export_table": "export",
    "perfetto_trace": "perfetto",
    "write_perfetto": "perfetto",
    "build_report": "render",
    "report_numbers": "render",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
