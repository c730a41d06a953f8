"""RM traces as pandas tables: messages -> transactions -> srt, errors, lifecycles -> findings.

Each stage is a pure function of DataFrames, usable alone from a notebook (``dissector.open``
wires them together in a ``Trace``):

* engines turn captures into message columns: ``fastpath`` scans records and
  ``dissector.decoders.columnar`` decodes them (numpy over the capture bytes), and
  ``scapy_path`` (a Scapy packet per message); both give identical columns;
* ``messages.build_messages(columns)`` -> the messages table and its request/reply pairing;
* ``transactions.df_transactions(messages)``, ``srt.df_srt(transactions, ...)``,
  ``errors.df_errors(messages)``, ``lifecycles.rebuild(messages, transactions)``;
* ``findings`` collects the expert info of all of them.

Every table's columns are declared in ``schema`` (``schema.TABLES``; the ledgers' in
``ledgers.schema``), and every ``Trace`` table once in the registry ``tables`` (schema, builder,
window and VM rules, CLI command).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "df_transactions": "dissector.analysis.transactions",
    "df_srt": "dissector.analysis.srt",
    "df_errors": "dissector.analysis.errors",
    "rebuild_lifecycles": "dissector.analysis.lifecycles",
    "build_messages": "dissector.analysis.messages",
    "TABLES": "dissector.analysis.schema",
    "MissingData": "dissector.analysis.select",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Lazy exports, so importing one submodule does not import them all."""
    import importlib

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dissector.analysis' has no attribute {name!r}")
    attr = "rebuild" if name == "rebuild_lifecycles" else name
    return getattr(importlib.import_module(module), attr)
