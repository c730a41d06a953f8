"""``dissector.open(path)``: one or several captures as a ``Trace`` whose attributes are tables.

Why an object: a notebook asks many questions of one capture; the tables are computed once,
when first asked for, and shared. A ``Trace`` holds plain DataFrames (see
``dissector.analysis.schema`` for every column); each is a pure function of the ones before it
(messages -> transactions -> srt, errors, lifecycles -> findings), so any stage can be taken
out and used alone, or per capture on a cluster and concatenated (every table has ``capture``).

Tables are built by the fast path (numpy over the capture bytes, identical to Scapy's result by
test); ``engine="scapy"`` forces a Scapy dissection of every message. ``trace.message(frame)``
gives the full Scapy dissection of one message.

``trace.window(start, end)`` returns a new Trace limited to a time window; its tables are the
full trace's tables filtered (a transaction belongs to the window its request falls in), so
calls that straddle the border keep their replies.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from dissector.analysis import fastpath
from dissector.analysis.columns import MessageColumns
from dissector.analysis.context import about_vms, payload_reader, resource_vms, vm_frames, with_resources
from dissector.analysis.errors import df_errors
from dissector.analysis.findings import (
    crash_reports,
    from_errors,
    from_messages,
    from_problems,
    from_transactions,
    reused_seqs,
    to_frame,
)
from dissector.analysis.ledgers import (
    LEDGER_TABLES,
    df_irqs,
    df_memparcels,
    ledger_findings,
    merge_findings,
    messages_from_columns,
)
from dissector.analysis.lifecycles import Lifecycles, rebuild
from dissector.analysis.messages import build_messages
from dissector.analysis.scapy_path import columns_from_decoded
from dissector.analysis.schema import PROBLEMS, TABLES
from dissector.analysis.select import MissingData, overlapping, select, suggest
from dissector.analysis.srt import df_srt
from dissector.analysis.timebase import TimeBase, present, public_schema
from dissector.analysis.timing import slow_windows, timing_findings
from dissector.analysis.transactions import call_types, transactions_from
from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import DecodedMessage, decode_records
from dissector.errors import UsageError
from dissector.protocol.dialects import get_dialect

Engine = Literal["auto", "fast", "scapy"]
Instant: TypeAlias = float | int | pd.Timestamp | dt.datetime | np.datetime64 | str | None
Source = str | os.PathLike[str] | IO[bytes] | IO[str]
TABLE_ATTRIBUTES = (
    "messages",
    "transactions",
    "srt",
    "errors",
    "lifecycles",
    "lifecycle_summary",
    "memparcels",
    "irqs",
    "findings",
    "slow_windows",
    "problems",
)

_SCHEMAS = {**TABLES, **LEDGER_TABLES}  # every public table's internal schema
# time columns giving the span of a ledger row, for window slicing
_LEDGER_SPAN = {"memparcels": ("created_time", "reclaimed_time"), "irqs": ("lent_time", "reclaimed_time")}


@dataclass
class _Base:
    """Everything computed for the whole input, once, lazily."""

    columns: list[MessageColumns]
    problems: pd.DataFrame
    dialect: str
    state_limits: Mapping[str, float] | None
    engine: str
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def captures(self) -> list[str]:
        return [c.capture for c in self.columns]

    def get(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = getattr(self, f"_make_{name}")()
        return self.cache[name]

    def _make_messages(self) -> pd.DataFrame:
        messages, pairing = build_messages(self.columns, self.dialect)
        self.cache["pairing"] = pairing
        return with_resources(messages, resource_vms(messages, payload_reader(self.columns, self.dialect)))

    def _make_transactions(self) -> pd.DataFrame:
        messages = self.get("messages")
        return transactions_from(messages, self.cache["pairing"], call_types(messages))

    def _make_lifecycles(self) -> Lifecycles:
        return rebuild(
            self.get("messages"),
            self.get("transactions"),
            dialect=self.dialect,
            state_limits=self.state_limits,
        )

    def _make_ledger_messages(self) -> list[dict[str, Any]]:
        """The memory, IRQ and VM config messages, dissected, for the parcel and IRQ ledgers."""
        return messages_from_columns(self.columns, self.dialect)

    def _make_memparcels(self) -> pd.DataFrame:
        return df_memparcels(self.get("ledger_messages"))

    def _make_irqs(self) -> pd.DataFrame:
        return df_irqs(self.get("ledger_messages"))

    def _make_ledger_findings(self) -> pd.DataFrame:
        return ledger_findings(self.get("ledger_messages"), self.get("memparcels"), self.get("irqs"))

    def _make_timebase(self) -> TimeBase:
        return TimeBase.from_messages(self.get("messages"), self.captures)

    def _make_end_times(self) -> dict[str, float]:
        m = self.get("messages")
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

    def _make_slow_windows(self) -> pd.DataFrame:
        return slow_windows(self.get("transactions"), self.get("messages"), self.get("lifecycles").summary)

    def _make_other_findings(self) -> list:
        """Findings that do not depend on the window's error counts."""
        return [
            *from_transactions(self.get("transactions"), self.get("end_times")),
            *reused_seqs(self.get("messages")),
            *crash_reports(self.get("messages"), self.fields),
            *from_messages(self.get("messages")),
            *self.get("lifecycles").findings,
            *timing_findings(
                self.get("transactions"),
                self.get("messages"),
                self.get("lifecycles").summary,
                self.get("slow_windows"),
            ),
        ]


class Trace:
    """Tables of one or more RM captures (see the module docstring).

    Attributes (DataFrames, computed on first use): ``messages``, ``transactions``, ``srt``,
    ``errors``, ``lifecycles`` (state intervals), ``lifecycle_summary`` (one row per VM
    instance), ``findings``, ``problems`` (what the readers could not read).
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
            cols, problems = columns_from_decoded(decode_records(items, dialect=dialect), capture)
        else:
            rc, problems = fastpath.columns_from_records(items, capture)
            cols = fastpath.decode(rc, capture, dialect)
        return cls(_Base([cols], _problems({capture: problems}), dialect, state_limits, engine))

    # --- the tables -------------------------------------------------------------------------
    @property
    def captures(self) -> list[str]:
        """Names of the captures, in the order given (full paths; tables show basenames)."""
        return self._base.captures

    @property
    def dialect(self) -> str:
        return self._base.dialect

    @property
    def messages(self) -> pd.DataFrame:
        """One row per RM message (``Trace.schema('messages')``)."""
        return self._public("messages")

    @property
    def transactions(self) -> pd.DataFrame:
        """Requests paired with replies (``Trace.schema('transactions')``)."""
        return self._public("transactions")

    @property
    def srt(self) -> pd.DataFrame:
        """Service response time per call (schema ``SRT``); ``df_srt`` filters further."""
        return self._public("srt")

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
        (``for_vms``)."""
        self._check_vmids(vmid)
        table = self._view("transactions")
        if start is not None or end is not None:
            table = self.window(start, end)._view("transactions")
        if vmid is not None:
            table = self.for_vms(table, vmid)
        return df_srt(table, client=client)

    def for_vms(self, table: pd.DataFrame, vmid: int | Sequence[int]) -> pd.DataFrame:
        """Rows of ``table`` (messages, transactions, findings) that concern these VMs: by ``vm``
        or ``vmid``, or as calls and notifications about a parcel or IRQ lent to, shared with or
        accepted by one of them (the ledgers), though the lender issued them."""
        vmids = [int(vmid)] if isinstance(vmid, int | np.integer) else [int(v) for v in vmid]
        related = vm_frames(self._base.get("memparcels"), self._base.get("irqs"), vmids)
        if "frames" in table and "frame" not in table:  # findings: any frame of the VMs' messages
            m = self._base.get("messages")
            mine = m[m["vm"].isin(vmids).to_numpy(bool, na_value=False)]
            for capture, frames in zip(mine["capture"].astype(str), mine["frames"], strict=True):
                related.setdefault(capture, set()).update(frames)
        keep = about_vms(table, vmids, related)
        return table if keep.all() else table[keep].reset_index(drop=True)

    @property
    def errors(self) -> pd.DataFrame:
        """Error replies per call x error code (schema ``ERRORS``)."""
        return self._public("errors")

    def df_errors(
        self, *, vmid: int | Sequence[int] | None = None, client: int | Sequence[int] | None = None
    ) -> pd.DataFrame:
        """The errors table of the replies about some VMIDs / on some clients' queues."""
        messages = select(self._view("messages"), client=client)
        messages = messages if vmid is None else self.for_vms(messages, vmid)
        return present(df_errors(messages), TABLES["errors"], self._base.get("timebase"))

    @property
    def lifecycles(self) -> pd.DataFrame:
        """VM state intervals (schema ``LIFECYCLES``)."""
        return self._public("lifecycles")

    @property
    def lifecycle_summary(self) -> pd.DataFrame:
        """One row per VM instance (schema ``LIFECYCLE_SUMMARY``)."""
        return self._public("lifecycle_summary")

    @property
    def findings(self) -> pd.DataFrame:
        """Expert info (schema ``FINDINGS``), most severe first."""
        return self._public("findings")

    @property
    def memparcels(self) -> pd.DataFrame:
        """One row per memory parcel (schema ``MEMPARCELS`` in ``analysis.ledgers.schema``)."""
        return self._public("memparcels")

    @property
    def irqs(self) -> pd.DataFrame:
        """One row per lent IRQ (schema ``IRQS`` in ``analysis.ledgers.schema``)."""
        return self._public("irqs")

    @property
    def slow_windows(self) -> pd.DataFrame:
        """Spans in which the RM served calls far slower than usual (schema ``SLOW_WINDOWS``)."""
        return self._public("slow_windows")

    @property
    def plot(self) -> Any:
        """Plots of this trace: ``trace.plot.latency_over_time()`` (see ``dissector.plots``)."""
        from dissector.plots import PlotAccessor

        return PlotAccessor(self)

    @property
    def problems(self) -> pd.DataFrame:
        """Input the capture readers could not read (schema ``PROBLEMS``)."""
        return self._public("problems")

    # --- the internal tables: float epoch seconds, what the analysis code works on ----------
    def _view(self, name: str) -> pd.DataFrame:
        """Table ``name`` of this window, as the pipeline builds it (absolute float seconds)."""
        makers: dict[str, Callable[[], pd.DataFrame]] = {
            "messages": lambda: select(self._base.get("messages"), start=self._start, end=self._end),
            "transactions": lambda: select(self._base.get("transactions"), start=self._start, end=self._end),
            "srt": lambda: df_srt(self._view("transactions")),
            "errors": lambda: df_errors(self._view("messages")),
            "lifecycles": lambda: overlapping(
                self._base.get("lifecycles").intervals, self._start, self._end, "start", "end"
            ),
            "lifecycle_summary": lambda: overlapping(
                self._base.get("lifecycles").summary, self._start, self._end, "first_seen", "deallocated_at"
            ),
            "findings": self._make_findings,
            "memparcels": lambda: overlapping(
                self._base.get("memparcels"), self._start, self._end, *_LEDGER_SPAN["memparcels"]
            ),
            "irqs": lambda: overlapping(
                self._base.get("irqs"), self._start, self._end, *_LEDGER_SPAN["irqs"]
            ),
            "slow_windows": lambda: overlapping(
                self._base.get("slow_windows"), self._start, self._end, "start", "end"
            ),
            "problems": lambda: self._base.problems,
        }
        return self._cached(name, makers[name])

    def _public(self, name: str) -> pd.DataFrame:
        """Table ``name`` presented on the one time base (``dissector.analysis.timebase``)."""
        return self._cached(
            f"public:{name}", lambda: present(self._view(name), _SCHEMAS[name], self._base.get("timebase"))
        )

    def _make_findings(self) -> pd.DataFrame:
        found = [f for f in self._base.get("other_findings") if self._inside(f.time)]
        found += from_errors(self._view("errors"), self._view("transactions"))
        if self._start is None and self._end is None:
            found += from_problems(self._base.problems)
        ledger = self._base.get("ledger_findings")
        ledger = ledger[[self._inside(t) for t in ledger["time"]]] if not ledger.empty else ledger
        return merge_findings([to_frame(found, self.captures), ledger], self.captures)

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
        choices = [
            *TABLE_ATTRIBUTES,
            "lifecycle",
            "message",
            "window",
            "df_srt",
            "plot",
            "vmids",
            "captures",
            "start",
            "end",
        ]
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
            return columns_from_decoded(decode_records(stream, dialect=dialect), capture)
    rc = None
    if (
        isinstance(source, str | os.PathLike)
        and os.fspath(source) != "-"
        and fmt in (None, "pcap")
        and os.path.isfile(source)
    ):
        rc = fastpath.scan_file(source)
    problems: list[CaptureProblem] = []
    if rc is None:
        with open_records(source, fmt=fmt) as stream:
            rc, problems = fastpath.columns_from_records(stream, capture)
    return fastpath.decode(rc, capture, dialect), problems


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
