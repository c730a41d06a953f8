"""Memory-parcel and lent-IRQ ledgers, and the checks only a whole trace can make (issue #8).

Layering as the rest of ``dissector.analysis``: jsonl-shaped messages (``DecodedMessage.to_json``)
-> ``df_memparcels`` / ``df_irqs`` (one row per parcel / lent IRQ, schemas in ``schema``)
-> ``ledger_findings`` (the analysis ``FINDINGS`` shape, so they join ``Trace.findings``).
Inputs are never modified; every function takes only the messages (and optionally the tables).
"""

from __future__ import annotations

from .checks import ACCEPT_GRACE, DTB_OVERLAY_ROOM, ledger_findings, merge_findings
from .events import LEDGER_MESSAGES, LEDGER_MSG_IDS, messages_from_columns, messages_from_decoded, wanted
from .irqs import df_irqs
from .memparcels import df_memparcels
from .schema import FINDING_CODES, IRQS, LEDGER_TABLES, MEMPARCELS

__all__ = [
    "ACCEPT_GRACE",
    "DTB_OVERLAY_ROOM",
    "FINDING_CODES",
    "IRQS",
    "LEDGER_MESSAGES",
    "LEDGER_MSG_IDS",
    "LEDGER_TABLES",
    "MEMPARCELS",
    "df_irqs",
    "df_memparcels",
    "ledger_findings",
    "merge_findings",
    "messages_from_columns",
    "messages_from_decoded",
    "wanted",
]
