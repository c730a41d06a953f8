"""``dissector.open(path)``: one or several captures as a ``Trace`` whose attributes are tables.

Why an object: a notebook asks many questions of one capture; the tables are computed once,
when first asked for, and shared. A ``Trace`` holds plain DataFrames, each declared once in the
table registry ``dissector.analysis.tables`` (its schema, builder, window and VM rules, CLI
command), which gives the ``Trace`` its properties, ``schema()``, ``window()`` and ``for_vms()``.
Each table is a pure function of the ones before it (messages -> transactions -> srt, errors,
lifecycles, memparcels, irqs -> findings), so any stage can be taken out and used alone, or per
capture on a cluster and concatenated (every table has ``capture``).

Tables are built by the fast path (numpy over the capture bytes, identical to Scapy's result by
test); ``engine="scapy"`` forces a Scapy dissection of every message. ``trace.message(frame)``
gives the full Scapy dissection of one message.

``trace.window(start, end)`` returns a new Trace limited to a time window; its tables are the
full trace's tables filtered, each by its registry rule: a message or transaction belongs to the
window its time falls in (a transaction's is its request's, so calls that straddle the border
keep their replies); a lifecycle interval, VM, parcel, IRQ or slow window to every window its
span overlaps; srt, errors and findings are derived from the window's tables; problems are not
windowed.

Time base (``dissector.analysis.timebase``): the public tables show ``time`` as a UTC datetime
and every other instant, ``t`` included, as seconds since the capture start (its first
record), as the CLI prints them; ``trace.start``/``trace.end`` are UTC ``pd.Timestamp``. The
tables are built, windowed and cached internally in float epoch seconds and presented on access.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, TypeAlias, assert_never

import numpy as np
import pandas as pd

from dissector.analysis import fastpath
from dissector.analysis.columns import MessageColumns
from dissector.analysis.context import about_vms, vm_frames
from dissector.analysis.errors import df_errors
from dissector.analysis.findings import crash_reports, from_messages, from_transactions, reused_seqs
from dissector.analysis.ledgers.checks import ledger_findings
from dissector.analysis.ledgers.events import LedgerMessages, ledger_messages
from dissector.analysis.lifecycles import Lifecycles, rebuild
from dissector.analysis.schema import PROBLEMS
from dissector.analysis.select import MissingData, overlapping, select, suggest
from dissector.analysis.srt import df_srt
from dissector.analysis.tables import (
    TABLES,
    Derived,
    Exchange,
    FromSource,
    NoVms,
    Rows,
    Span,
    Table,
    VmColumns,
    Whole,
)
from dissector.analysis.timebase import TimeBase, present, public_schema
from dissector.analysis.timing import TimingModel, timing_findings, timing_model
from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import DecodedMessage, decode_records
from dissector.decoders import columnar
from dissector.errors import UsageError
from dissector.forked import Beside
from dissector.gcpause import gc_paused
from dissector.protocol.dialects import get_dialect

Engine = Literal["auto", "fast", "scapy"]
Instant: TypeAlias = float | int | pd.Timestamp | dt.datetime | np.datetime64 | str | None
Source = str | os.PathLike[str] | IO[bytes] | IO[str]
TABLE_ATTRIBUTES = tuple(t.name for t in TABLES)  # every table, in the registry's order
_SCHEMAS = {t.name: t.schema for t in TABLES}  # every public table's internal schema
_REGISTRY = {t.name: t for t in TABLES}
# the ledgers' branch of the tables (their tables, and the findings of their checks): it reads
# nothing of the other branch (message core, lifecycles, timing) but the columns, so the findings
# and the report build it beside that branch (``build_beside``)
LEDGER_BRANCH = ("memparcels", "irqs", "ledger_findings")


@dataclass
class _Base:
    """Everything computed for the whole input, once, lazily."""

    columns: list[MessageColumns]
    problems: pd.DataFrame
    dialect: str
    state_limits: Mapping[str, float] | None
    engine: str
    cache: dict[str, Any] = field(default_factory=dict)
    # results being built in a forked child (``build_beside``), joined by ``get`` on first use
    pending: dict[str, Beside[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def captures(self) -> list[str]:
        return [c.capture for c in self.columns]

    def build_beside(self, names: Sequence[str]) -> bool:
        """Start building ``names`` (tables or intermediate results) in a forked child while
        the caller builds others (``dissector.forked``); False where no child could be forked,
        and then nothing was started: ``get`` builds them here, when first asked."""
        todo = [n for n in names if n not in self.cache and n not in self.pending]
        if not todo:
            return False
        beside = Beside(lambda: {n: self.get(n) for n in todo})
        if not beside.forked:
            return False
        for n in todo:
            self.pending[n] = beside
        return True

    def get(self, name: str) -> Any:
        """Table ``name`` of the whole input (built by its registry entry), or an intermediate
        result (``_make_<name>``: the pairing, the lifecycle model, the ledgers' messages ...)."""
        if name in self.pending:  # built beside: the child's results; if it failed, each is built
            beside = self.pending[name]  # here when first asked, as if no child had been forked
            for n in [n for n, b in self.pending.items() if b is beside]:
                del self.pending[n]
            with gc_paused():
                answer = beside.answer()
                if answer is not None:
                    self.cache.update(answer[0])
        if name not in self.cache:
            spec = _REGISTRY.get(name)
            build = spec.build if spec is not None else None
            # the cyclic collector paused while a table is built (as the commands pause it for
            # their whole run): a build allocates objects that live on, and each burst started a
            # collection, the full ones walking every object of the tables built before (~1.5 s
            # of ``findings`` at 1M); re-enabled, the collector meets them once
            with gc_paused():
                self.cache[name] = build(self) if build is not None else getattr(self, f"_make_{name}")()
        return self.cache[name]

    def _make_message_core(self) -> Any:
        """The columns of the messages table that transactions, times and lifecycles read."""
        from dissector.analysis.tables import message_core

        return message_core(self.columns, self.dialect)

    def _make_pairing(self) -> Any:
        return self.get("message_core").pairing

    def _make_lifecycle_model(self) -> Lifecycles:
        """The VM lifecycles (intervals, summary, findings) rebuilt once for the tables using them."""
        return rebuild(
            self.get("message_core").with_fields(),
            self.get("transactions"),
            dialect=self.dialect,
            state_limits=self.state_limits,
        )

    def _make_ledger_messages(self) -> LedgerMessages:
        """The memory, IRQ and VM config messages, dissected, for the parcel and IRQ ledgers."""
        return ledger_messages(self.columns, self.dialect)

    def _make_ledger_findings(self) -> pd.DataFrame:
        return ledger_findings(self.get("ledger_messages"), self.get("memparcels"), self.get("irqs"))

    def _make_timebase(self) -> TimeBase:
        return TimeBase.from_columns(self.columns, self.captures)  # == from_messages, by test

    def _make_end_times(self) -> dict[str, float]:
        m = self.get("message_core").table
        if m.empty:
            return {}
        ends = m.groupby("capture", observed=True)["time"].max()
        return {str(k): float(v) for k, v in ends.items()}

    def fields(self, capture: str, frame: int) -> dict[str, Any]:
        """The payload fields of one message (Scapy), for findings that quote a payload."""
        for cols in self.columns:
            if cols.capture == capture and cols.raw_message is not None:
                row = int(np.searchsorted(cols.frame, frame))
                if row < len(cols) and cols.frame[row] == frame:
                    return DecodedMessage(cols.raw_message(row), self.dialect).fields
        return {}

    def _make_other_findings(self) -> list:
        """Findings that do not depend on the window's error counts."""
        self.get("slow_windows")  # the table kept from the model before the model is dropped
        found = [
            *from_transactions(self.get("transactions"), self.get("end_times")),
            *reused_seqs(self.get("messages"), clients=self.get("pairing").client),
            *crash_reports(self.get("messages"), self.fields),
            *from_messages(self.get("messages")),
            *self.get("lifecycle_model").findings,
            *timing_findings(
                self.get("transactions"),
                self.get("messages"),
                self.get("lifecycle_summary"),
                self.get("timing_model"),
            ),
        ]
        self.cache.pop("timing_model", None)  # its two readers are built: ~37 MB of arrays at 1M
        return found

    def _make_timing_model(self) -> TimingModel:
        """Service times and slow windows, detected once for ``slow_windows`` and the findings."""
        return timing_model(self.get("transactions"), self.get("messages"), self.get("lifecycle_summary"))


class Trace:
    """Tables of one or more RM captures (see the module docstring).

    Tables (DataFrames, computed on first use), one property each, declared in the table
    registry ``dissector.analysis.tables``: ``messages``, ``transactions``, ``srt``, ``errors``,
    ``lifecycles`` (state intervals), ``lifecycle_summary`` (one row per VM instance),
    ``memparcels``, ``irqs`` (the ledgers), ``findings``, ``slow_windows`` and ``problems``
    (what the readers could not read); ``Trace.schema(name)`` gives each one's columns.
    ``table(name, vmid=, client=)`` selects rows as the CLI does, ``window(start, end)`` gives a
    time window, ``for_vms`` the rows about some VMs; ``message(frame)`` the Scapy dissection
    of one message, ``lifecycle(vmid)`` one VM's states, ``plot`` the plots.
    """

    def __init__(self, base: _Base, start: float | None = None, end: float | None = None) -> None:
        self._base = base
        self._start = start
        self._end = end

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def from_records(
        cls,
        items: Iterable[Record | CaptureProblem],
        *,
        capture: str = "records",
        dialect: str = "rm",
        engine: Engine = "auto",
        state_limits: Mapping[str, float] | None = None,
    ) -> Trace:
        """A trace of records already in memory (tests, notebooks building messages by hand)."""
        get_dialect(dialect)
        items = list(items)
        if engine == "scapy":
            from dissector.analysis.scapy_path import columns_from_decoded  # Scapy only when asked

            cols, problems = columns_from_decoded(decode_records(items, dialect=dialect), capture)
        else:
            rc, problems = fastpath.columns_from_records(items, capture)
            cols = columnar.decode(rc, capture, dialect)
        return cls(_Base([cols], _problems({capture: problems}), dialect, state_limits, engine))

    # --- the tables (one property per registered table, added below the class) --------------
    @property
    def captures(self) -> list[str]:
        """Names of the captures, in the order given (full paths; tables show basenames)."""
        return self._base.captures

    @property
    def dialect(self) -> str:
        return self._base.dialect

    def table(
        self,
        name: str,
        *,
        vmid: int | Sequence[int] | None = None,
        client: int | Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """Table ``name`` of this trace, only the rows about some VMs (``for_vms``) and on some
        clients' queues (the table's client column; the ledgers: the lender), as the CLI selects.
        A derived table (``srt``, ``errors``, ``findings``) is derived from the selected rows."""
        spec = self._table_spec(name)
        if isinstance(spec.vms, FromSource) and spec.derive is not None and (vmid or client) is not None:
            derived = spec.derive(_Selected(self, vmid, client))  # type: ignore[arg-type]
            return present(derived, spec.schema, self._base.get("timebase"))
        table = self._public(name)
        if client is not None and spec.client is not None:
            table = _with_any(table, (spec.client,), _ints(client))
        return table if vmid is None else self.for_vms(table, vmid, table_name=name)

    def _selected(
        self, name: str, vmid: int | Sequence[int] | None, client: int | Sequence[int] | None
    ) -> pd.DataFrame:
        """The internal table ``name`` of this window for these VMs and clients."""
        table = select(self._view(name), client=client)
        return table if vmid is None else self.for_vms(table, vmid, table_name=name)

    def df_srt(
        self,
        *,
        vmid: int | Sequence[int] | None = None,
        client: int | Sequence[int] | None = None,
        start: Instant = None,
        end: Instant = None,
    ) -> pd.DataFrame:
        """The SRT table for some VMIDs / clients / a time window (bounds as in ``window``); a VM's
        calls include those on the parcels and IRQs lent to, shared with or accepted by it
        (``for_vms``). An unknown VMID is an error naming the known ones."""
        self._check_vmids(vmid)
        trace = self.window(start, end) if start is not None or end is not None else self
        table = df_srt(trace._selected("transactions", vmid, None), client=client)
        return present(table, _SCHEMAS["srt"], self._base.get("timebase"))  # as trace.srt shows it

    def df_errors(
        self, *, vmid: int | Sequence[int] | None = None, client: int | Sequence[int] | None = None
    ) -> pd.DataFrame:
        """The errors table of the replies about some VMIDs / on some clients' queues."""
        messages = self._selected("messages", vmid, client)
        return present(df_errors(messages), _SCHEMAS["errors"], self._base.get("timebase"))

    def for_vms(
        self, table: pd.DataFrame | str, vmid: int | Sequence[int], *, table_name: str | None = None
    ) -> pd.DataFrame:
        """Rows of ``table`` (a table of this trace, or its name) that concern these VMs, as
        its registry entry says: messages, transactions, findings by ``vm`` or ``vmid``, or as
        calls and notifications about a parcel or IRQ lent to, shared with or accepted by one of
        them (the ledgers), though the lender issued them; the ledgers by owner, borrowers and
        acceptors; lifecycles by ``vmid``. A name gives the whole table of this window (a
        derived table derived again from its source's rows)."""
        vmids = _ints(vmid)
        if isinstance(table, str):
            return self.table(table, vmid=vmids)
        spec = _REGISTRY.get(table_name) if table_name else _which(table)
        rule = Exchange() if spec is None else spec.vms
        match rule:
            case Exchange():
                return self._about_vms(table, vmids)
            case VmColumns(columns):
                return _with_any(table, columns, vmids)
            case FromSource(source):
                raise UsageError(
                    f"{spec.name if spec else 'this table'} is derived from {source}: "
                    f"use trace.table({spec.name if spec else ''!r}, vmid=...)"
                )
            case NoVms():
                raise UsageError(f"no row of {spec.name if spec else 'this table'} concerns a VM")
            case _:
                assert_never(rule)

    def _about_vms(self, table: pd.DataFrame, vmids: list[int]) -> pd.DataFrame:
        related = vm_frames(self._base.get("memparcels"), self._base.get("irqs"), vmids)
        if "frames" in table and "frame" not in table:  # findings: any frame of the VMs' messages
            m = self._base.get("messages")
            mine = m[m["vm"].isin(vmids).to_numpy(bool, na_value=False)]
            for capture, frames in zip(mine["capture"].astype(str), mine["frames"], strict=True):
                related.setdefault(capture, set()).update(frames)
        keep = about_vms(table, vmids, related)
        return table if keep.all() else table[keep].reset_index(drop=True)

    @property
    def plot(self) -> Any:
        """Plots of this trace: ``trace.plot.latency_over_time()`` (see ``dissector.plots``)."""
        from dissector.plots import PlotAccessor

        return PlotAccessor(self)

    # --- the internal tables: float epoch seconds, what the analysis code works on ----------
    def _table_spec(self, name: str) -> Table:
        spec = _REGISTRY.get(name)
        if spec is None:
            raise MissingData(suggest(name, list(_REGISTRY), "table"))
        return spec

    def _view(self, name: str) -> pd.DataFrame:
        """Table ``name`` of this window, as the pipeline builds it (absolute float seconds)."""
        spec = self._table_spec(name)
        return self._cached(name, lambda: self._windowed_table(spec))

    def _windowed_table(self, spec: Table) -> pd.DataFrame:
        """``spec``'s table in this window, by its window rule (``dissector.analysis.tables``)."""
        if spec.derive is not None:
            return spec.derive(self)
        whole = self._base.get(spec.name)  # built once per input, whatever asked for it first
        match spec.window:
            case Rows(column):
                return select(whole, start=self._start, end=self._end, time=column)
            case Span(first, last):
                return overlapping(whole, self._start, self._end, first, last)
            case Whole() | Derived():
                return whole
            case _:
                assert_never(spec.window)

    def _public(self, name: str) -> pd.DataFrame:
        """Table ``name`` presented on the one time base (``dissector.analysis.timebase``)."""
        return self._cached(
            f"public:{name}", lambda: present(self._view(name), _SCHEMAS[name], self._base.get("timebase"))
        )

    @property
    def _windowed(self) -> bool:
        return self._start is not None or self._end is not None

    def lifecycle(self, vmid: int, instance: int | None = None) -> pd.DataFrame:
        """State intervals of one VM (all its instances, or one); names the known VMIDs if absent."""
        table = self.lifecycles
        rows = table[table["vmid"] == vmid]
        if rows.empty:
            known = sorted(set(table["vmid"].tolist()))
            raise MissingData(suggest(vmid, known, "VM with a lifecycle, VMID"))
        if instance is not None:
            picked = rows[rows["instance"] == instance]
            if picked.empty:
                known = sorted(set(rows["instance"].tolist()))
                raise MissingData(
                    suggest(instance, known, f"instance of VM {vmid:#x} numbered", hexadecimal=False)
                )
            rows = picked
        return rows.reset_index(drop=True)

    def message(self, frame: int, capture: str | None = None) -> DecodedMessage:
        """The full Scapy dissection of the message that starts at ``frame``."""
        if capture is None and len(self._base.columns) > 1:
            raise MissingData(f"this trace holds {len(self.captures)} captures; say which: capture=...")
        labels = self._base.get("timebase").labels
        for cols in self._base.columns:
            if capture is not None and capture not in (cols.capture, labels.get(cols.capture)):
                continue
            row = np.searchsorted(cols.frame, frame)
            if row < len(cols) and cols.frame[row] == frame and cols.raw_message is not None:
                start = self._base.get("timebase").starts.get(cols.capture)
                return DecodedMessage(cols.raw_message(int(row)), self.dialect, start)
            nearby = cols.frame[max(0, row - 2) : row + 2].tolist()
            raise MissingData(f"no message starts at frame {frame} in {cols.capture}; nearby: {nearby}")
        raise MissingData(suggest(capture, self.captures, "capture"))

    @property
    def vmids(self) -> list[int]:
        """Every VMID some message concerns."""
        return sorted(int(v) for v in self._view("messages")["vmid"].dropna().unique())

    # --- time -------------------------------------------------------------------------------
    @property
    def start(self) -> pd.Timestamp | None:
        """When the input starts (UTC): the first record of the earliest capture; None if untimed.
        ``window`` counts float seconds from here; each table's ``t`` from its own capture's start."""
        ns = self._origin_ns()
        return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")

    @property
    def end(self) -> pd.Timestamp | None:
        """Time of the last message of the whole input (UTC)."""
        t = self._base.get("messages")["time_ns"]
        return None if t.isna().all() else pd.Timestamp(int(t.max()), unit="ns", tz="UTC")

    def build_beside(self, *names: str) -> bool:
        """Start building tables ``names`` (of the whole input) in a forked child, while this
        process goes on with others: ``ghrm findings`` builds the ledgers' so. True if a child
        was forked; where forking is unsafe (a process with native threads, a notebook's kernel
        among them; not Linux; ``GHRM_JOBS=1``) nothing starts and each table is built when first
        used.
        The tables are the same either way (``dissector.forked``)."""
        return self._base.build_beside(names)

    def window(self, start: Instant = None, end: Instant = None, *, relative: bool | None = None) -> Trace:
        """A new Trace of the messages with ``start <= time < end``; this trace is unchanged.

        Floats (ints) are seconds since ``trace.start`` (for one capture: the ``t`` column);
        ``pd.Timestamp`` / ``datetime`` / ``np.datetime64`` / ISO strings are absolute (naive = UTC).
        ``relative=True`` is accepted for old code (floats are relative anyway)."""
        if start is None and end is None:
            return self
        origin = self._origin_ns()
        if origin is None:
            raise MissingData(
                "this trace has no timestamps (a kernel log without dmesg times?): cannot window by time"
            )
        lo_abs, hi_abs = (_epoch_seconds(b, origin, relative) for b in (start, end))
        lo = lo_abs if self._start is None else (self._start if lo_abs is None else max(lo_abs, self._start))
        hi = hi_abs if self._end is None else (self._end if hi_abs is None else min(hi_abs, self._end))
        return Trace(self._base, lo, hi)

    def _origin_ns(self) -> int | None:
        starts = self._base.get("timebase").starts
        return min(starts.values()) if starts else None

    # --- plumbing ---------------------------------------------------------------------------
    def _inside(self, t: float | None) -> bool:
        if self._start is None and self._end is None:
            return True
        if t is None or math.isnan(t):
            return False
        return (self._start is None or t >= self._start) and (self._end is None or t < self._end)

    def _cached(self, name: str, make: Any) -> pd.DataFrame:
        key = (name, self._start, self._end)
        cache = self._base.cache.setdefault("views", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _check_vmids(self, vmid: int | Sequence[int] | None) -> None:
        if vmid is None:
            return
        wanted = [vmid] if isinstance(vmid, int | np.integer) else list(vmid)
        known = self.vmids
        for v in wanted:
            if v not in known:
                raise MissingData(suggest(int(v), known, "VMID"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        prop = getattr(type(self), name, None)
        if isinstance(prop, property) and prop.fget is not None:
            # the property itself raised AttributeError; say so instead of "no attribute"
            try:
                return prop.fget(self)
            except AttributeError as exc:
                raise UsageError(f"computing Trace.{name} failed: {exc}") from exc
        choices = [*TABLE_ATTRIBUTES, *_METHODS]
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; tables: {', '.join(TABLE_ATTRIBUTES)}"
        raise AttributeError(f"Trace has no attribute {name!r}{hint}")

    def __repr__(self) -> str:
        m = self.messages
        span = ""
        if m["t"].notna().any():
            span = f", {m['t'].min():.3f}-{m['t'].max():.3f} s"
        window = " (window)" if self._start is not None or self._end is not None else ""
        return (
            f"<Trace{window} {len(self.captures)} capture(s), {len(m)} messages, "
            f"{int((m['type'] == 'request').sum())} requests, {len(self.vmids)} VMIDs{span}>"
        )

    def _repr_html_(self) -> str:
        """Jupyter: a summary card (span, clients, VMs, messages, errors, findings, what next)."""
        from dissector.display import trace_html

        return trace_html(self)

    @staticmethod
    def schema(table: str) -> Markdown:
        """The columns of the public table ``table`` as Markdown (renders as a table in Jupyter)."""
        if table not in _SCHEMAS:
            raise MissingData(suggest(table, list(_SCHEMAS), "table"))
        return Markdown(public_schema(_SCHEMAS[table]).doc_table())


def _table_property(spec: Table) -> property:
    def get(self: Trace) -> pd.DataFrame:
        return self._public(spec.name)

    get.__name__ = spec.name
    get.__doc__ = f"{spec.schema.doc[:1].upper()}{spec.schema.doc[1:]} (``Trace.schema({spec.name!r})``)."
    return property(get)


for _spec in TABLES:  # one property per registered table: trace.messages, trace.memparcels ...
    setattr(Trace, _spec.name, _table_property(_spec))
# what __getattr__ offers besides the tables when a name is mistyped
_METHODS = ("table", "for_vms", "lifecycle", "message", "window", "df_srt", "df_errors", "plot", "vmids",
            "captures", "start", "end", "schema")  # fmt: skip


class _Selected:
    """A trace's window seen through a VM/client selection: what a derived table (``srt``,
    ``errors``) is derived from when ``Trace.table`` selects it."""

    def __init__(self, trace: Trace, vmid: int | Sequence[int] | None, client: int | Sequence[int] | None):
        self._trace, self._vmid, self._client = trace, vmid, client

    def _view(self, name: str) -> pd.DataFrame:
        return self._trace._selected(name, self._vmid, self._client)


def _ints(vmid: int | Sequence[int]) -> list[int]:
    return [int(vmid)] if isinstance(vmid, int | np.integer) else [int(v) for v in vmid]


def _with_any(table: pd.DataFrame, columns: Sequence[str], wanted: Iterable[int]) -> pd.DataFrame:
    """Rows where one of ``columns`` (a VMID, or a tuple of VMIDs) is one of ``wanted``."""
    want = {int(v) for v in wanted}
    keep = np.zeros(len(table), bool)
    for column in columns:
        values = table[column]
        if values.dtype == object:  # tuples of VMIDs
            hits = (isinstance(v, tuple) and not want.isdisjoint(v) for v in values)
            keep |= np.fromiter(hits, bool, len(values))
        else:
            keep |= values.isin(want).to_numpy(bool, na_value=False)
    return table if keep.all() else table[keep].reset_index(drop=True)


def _which(table: pd.DataFrame) -> Table | None:
    """The registered table whose public or internal columns ``table`` has (None if none)."""
    columns = list(table.columns)
    for spec in TABLES:
        if columns in (spec.schema.names, public_schema(spec.schema).names):
            return spec
    return None


class Markdown(str):
    """Text that Jupyter renders as Markdown (and that prints as itself anywhere else)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def _epoch_seconds(bound: Instant, origin_ns: int, relative: bool | None) -> float | None:
    """A window bound as internal float epoch seconds (see ``Trace.window``)."""
    if bound is None:
        return None
    if isinstance(bound, int | float | np.integer | np.floating) and not isinstance(bound, bool):
        if relative is False:
            raise ValueError(
                f"window bound {bound!r}: floats are seconds since trace.start; "
                "pass a pd.Timestamp for an absolute time (relative=False is gone)"
            )
        return (origin_ns + round(float(bound) * 1e9)) / 1e9
    if relative:
        raise ValueError(f"window bound {bound!r} is an absolute time; relative=True wants seconds")
    try:
        ts = pd.Timestamp(bound)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"window bound {bound!r}: not seconds nor a time ({exc})") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.value / 1e9


def _problems(by_capture: Mapping[str, list[CaptureProblem]]) -> pd.DataFrame:
    rows = [(c, p) for c, probs in by_capture.items() for p in probs]
    data = {
        "capture": pd.Categorical([c for c, _ in rows], categories=list(by_capture)),
        "source": [p.source for _, p in rows],
        "reason": [p.reason for _, p in rows],
        "offset": [p.offset for _, p in rows],
        "length": [p.length for _, p in rows],
        "line": [p.line for _, p in rows],
        "fatal": np.array([p.fatal for _, p in rows], bool),
    }
    return PROBLEMS.frame(data)


def _name(source: Source, taken: set[str]) -> str:
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        name = "<stdin>" if name == "-" else name
    else:
        name = getattr(source, "name", None) or "<stream>"
        name = name if isinstance(name, str) else "<stream>"
    unique, k = name, 2
    while unique in taken:
        unique, k = f"{name}#{k}", k + 1
    taken.add(unique)
    return unique


def load_capture(
    source: Source, capture: str, *, dialect: str = "rm", engine: Engine = "auto", fmt: str | None = None
) -> tuple[MessageColumns, list[CaptureProblem]]:
    """One capture's message columns by the chosen engine (``auto`` = fast)."""
    if engine not in ("auto", "fast", "scapy"):
        raise UsageError(f"unknown engine {engine!r}; choose auto, fast or scapy")
    if engine == "scapy":
        with open_records(source, fmt=fmt) as stream:
            from dissector.analysis.scapy_path import columns_from_decoded  # Scapy only when asked

            return columns_from_decoded(decode_records(stream, dialect=dialect), capture)
    rc, problems = fastpath.read_records(source, capture, fmt)
    return columnar.decode(rc, capture, dialect), problems


def _check_state_limits(limits: Any) -> None:
    """``state_limits`` must map VM state names to seconds (a ``UsageError`` otherwise)."""
    if limits is None:
        return
    if not isinstance(limits, Mapping):
        raise UsageError(
            f"state_limits maps a VM state name to seconds, e.g. {{'INIT': 5.0}}; got {type(limits).__name__}"
        )
    for state, seconds in limits.items():
        if not isinstance(state, str) or isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise UsageError(f"state_limits: {state!r}: {seconds!r} is not a state name mapped to seconds")
        if not math.isfinite(seconds) or seconds < 0:
            raise UsageError(f"state_limits: {state!r}: {seconds!r} is not a finite number of seconds >= 0")


def _sources(paths: Any) -> list[Source]:
    """``paths`` as a list of sources: a path (str, bytes, PathLike), a binary file, or a list."""
    one = isinstance(paths, str | bytes | os.PathLike) or hasattr(paths, "read")
    items = [paths] if one else paths
    if not isinstance(items, Sequence | Iterable) or isinstance(items, Mapping):
        what = type(paths).__name__
        raise UsageError(f"cannot read captures from a {what}; pass a path or a list of paths")
    out: list[Source] = []
    for item in items:
        if isinstance(item, bytes):
            item = os.fsdecode(item)
        if not (isinstance(item, str | os.PathLike) or hasattr(item, "read")):
            what = f"{type(item).__name__} {item!r:.40}"
            raise UsageError(f"a capture is a path or a binary file object, not {what}")
        out.append(item)
    return out


def open_trace(
    paths: Source | Sequence[Source],
    *,
    dialect: str = "rm",
    engine: Engine = "auto",
    state_limits: Mapping[str, float] | None = None,
    fmt: str | None = None,
) -> Trace:
    """Read one capture or several (any supported format, detected by content) into a Trace.

    ``dialect`` names ids and enums (see ``ghrm --dialect``); ``engine`` ``auto``/``fast``
    builds tables with numpy, ``scapy`` dissects every message; ``state_limits`` maps a VM state
    name to the seconds it may last before a ``state_held`` finding; ``fmt`` forces a format.
    """
    try:
        get_dialect(dialect)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sources = _sources(paths)
    _check_state_limits(state_limits)
    if not sources:
        raise MissingData("no capture given: pass a path or a list of paths")
    taken: set[str] = set()
    columns = []
    problems: dict[str, list[CaptureProblem]] = {}
    for source in sources:
        name = _name(source, taken)
        cols, probs = load_capture(source, name, dialect=dialect, engine=engine, fmt=fmt)
        columns.append(cols)
        problems[name] = probs
    return Trace(_Base(columns, _problems(problems), dialect, state_limits, engine))
