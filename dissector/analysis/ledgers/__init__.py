"""Memory-parcel and lent-IRQ ledgers, and the checks only a whole trace can make (issue #8).

Layering as the rest of ``dissector.analysis``: jsonl-shaped messages (``DecodedMessage.to_json``)
-> ``df_memparcels`` / ``df_irqs`` (one row per parcel / lent IRQ, schemas in ``schema``)
-> ``ledger_findings`` (the analysis ``FINDINGS`` shape, so they join ``Trace.findings``).
Inputs are never modified; every function takes only the messages (and optionally the tables).

The names below are exported lazily (as ``dissector.analysis`` does), so that reading the
ledger schemas (``ledgers.schema``, light) does not import the ledger builders and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ACCEPT_GRACE": "checks",
    "DTB_OVERLAY_ROOM": "checks",
    "ledger_findings": "checks",
    "merge_findings": "checks",
    "LEDGER_MESSAGES": "events",
    "LEDGER_MSG_IDS": "events",
    "messages_from_columns": "events",
    "messages_from_decoded": "events",
    "wanted": "events",
    "df_irqs": "irqs",
    "df_memparcels": "memparcels",
    "FINDING_CODES": "schema",
    "IRQS": "schema",
    "LEDGER_TABLES": "schema",
    "MEMPARCELS": "schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dissector.analysis.ledgers' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
