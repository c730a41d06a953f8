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
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from dissector.analysis import fastpath
from dissector.analysis.columns import MessageColumns
from dissector.analysis.context import about_vms, ledger_vms, vm_frames, with_ledgers
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
from dissector.analysis.transactions import call_types, transactions_from
from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import DecodedMessage, decode_records
from dissector.protocol.dialects import get_dialect

Engine = Literal["auto", "fast", "scapy"]
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
    "problems",
)

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
        vms = ledger_vms(self.get("ledger_messages"), self.get("memparcels"), self.get("irqs"))
        return with_ledgers(messages, vms)

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

    def _make_other_findings(self) -> list:
        """Findings that do not depend on the window's error counts."""
        return [
            *from_transactions(self.get("transactions"), self.get("end_times")),
            *reused_seqs(self.get("messages")),
            *crash_reports(self.get("messages"), self.fields),
            *from_messages(self.get("messages")),
            *self.get("lifecycles").findings,
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
            cols = fastpath.decode(rc, capture)
        return cls(_Base([cols], _problems({capture: problems}), dialect, state_limits, engine))

    # --- the tables -------------------------------------------------------------------------
    @property
    def captures(self) -> list[str]:
        """Names of the captures, in the order given."""
        return self._base.captures

    @property
    def dialect(self) -> str:
        return self._base.dialect

    @property
    def messages(self) -> pd.DataFrame:
        """One row per RM message (schema ``MESSAGES``)."""
        return self._cached(
            "messages", lambda: select(self._base.get("messages"), start=self._start, end=self._end)
        )

    @property
    def transactions(self) -> pd.DataFrame:
        """Requests paired with replies (schema ``TRANSACTIONS``)."""
        return self._cached(
            "transactions", lambda: select(self._base.get("transactions"), start=self._start, end=self._end)
        )

    @property
    def srt(self) -> pd.DataFrame:
        """Service response time per call (schema ``SRT``); ``df_srt`` filters further."""
        return self._cached("srt", lambda: df_srt(self.transactions))

    def df_srt(
        self,
        *,
        vmid: int | Sequence[int] | None = None,
        client: int | Sequence[int] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> pd.DataFrame:
        """The SRT table for some VMIDs / clients / an absolute time window; a VM's calls include
        those on the parcels and IRQs lent to, shared with or accepted by it (``for_vms``)."""
        self._check_vmids(vmid)
        tx = self.transactions if vmid is None else self.for_vms(self.transactions, vmid)
        return df_srt(tx, client=client, start=start, end=end)

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
        return self._cached("errors", lambda: df_errors(self.messages))

    @property
    def lifecycles(self) -> pd.DataFrame:
        """VM state intervals (schema ``LIFECYCLES``)."""
        return self._cached(
            "lifecycles",
            lambda: overlapping(
                self._base.get("lifecycles").intervals, self._start, self._end, "start", "end"
            ),
        )

    @property
    def lifecycle_summary(self) -> pd.DataFrame:
        """One row per VM instance (schema ``LIFECYCLE_SUMMARY``)."""
        return self._cached(
            "lifecycle_summary",
            lambda: overlapping(
                self._base.get("lifecycles").summary, self._start, self._end, "first_seen", "deallocated_at"
            ),
        )

    @property
    def findings(self) -> pd.DataFrame:
        """Expert info (schema ``FINDINGS``), most severe first."""

        def make() -> pd.DataFrame:
            found = [f for f in self._base.get("other_findings") if self._inside(f.time)]
            found += from_errors(self.errors, self.transactions)
            if self._start is None and self._end is None:
                found += from_problems(self.problems)
            ledger = self._base.get("ledger_findings")
            ledger = ledger[[self._inside(t) for t in ledger["time"]]] if not ledger.empty else ledger
            return merge_findings([to_frame(found, self.captures), ledger], self.captures)

        return self._cached("findings", make)

    @property
    def memparcels(self) -> pd.DataFrame:
        """One row per memory parcel (schema ``MEMPARCELS`` in ``analysis.ledgers.schema``)."""
        return self._cached(
            "memparcels",
            lambda: overlapping(
                self._base.get("memparcels"), self._start, self._end, *_LEDGER_SPAN["memparcels"]
            ),
        )

    @property
    def irqs(self) -> pd.DataFrame:
        """One row per lent IRQ (schema ``IRQS`` in ``analysis.ledgers.schema``)."""
        return self._cached(
            "irqs", lambda: overlapping(self._base.get("irqs"), self._start, self._end, *_LEDGER_SPAN["irqs"])
        )

    @property
    def problems(self) -> pd.DataFrame:
        """Input the capture readers could not read (schema ``PROBLEMS``)."""
        return self._base.problems

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
        for cols in self._base.columns:
            if capture is not None and cols.capture != capture:
                continue
            row = np.searchsorted(cols.frame, frame)
            if row < len(cols) and cols.frame[row] == frame and cols.raw_message is not None:
                return DecodedMessage(cols.raw_message(int(row)), self.dialect)
            nearby = cols.frame[max(0, row - 2) : row + 2].tolist()
            raise MissingData(f"no message starts at frame {frame} in {cols.capture}; nearby: {nearby}")
        raise MissingData(suggest(capture, self.captures, "capture"))

    @property
    def vmids(self) -> list[int]:
        """Every VMID some message concerns."""
        return sorted(int(v) for v in self.messages["vmid"].dropna().unique())

    # --- time -------------------------------------------------------------------------------
    @property
    def start(self) -> float | None:
        """Time of the first message of the whole input (absolute seconds), None if untimed."""
        t = self._base.get("messages")["time"]
        return None if t.isna().all() else float(t.min())

    @property
    def end(self) -> float | None:
        """Time of the last message of the whole input."""
        t = self._base.get("messages")["time"]
        return None if t.isna().all() else float(t.max())

    def window(
        self, start: float | None = None, end: float | None = None, *, relative: bool = False
    ) -> Trace:
        """A new Trace of the messages with ``start <= time < end`` (absolute seconds, or seconds
        after the first message with ``relative=True``); this trace is unchanged."""
        if start is None and end is None:
            return self
        origin = self.start
        if origin is None:
            raise MissingData(
                "this trace has no timestamps (a kernel log without dmesg times?): cannot window by time"
            )
        if relative:
            start = None if start is None else origin + start
            end = None if end is None else origin + end
        lo = start if self._start is None else (self._start if start is None else max(start, self._start))
        hi = end if self._end is None else (self._end if end is None else min(end, self._end))
        return Trace(self._base, lo, hi)

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
        choices = [
            *TABLE_ATTRIBUTES,
            "lifecycle",
            "message",
            "window",
            "df_srt",
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
        if self.start is not None and not m.empty and m["time"].notna().any():
            span = f", {float(m['time'].min()) - self.start:.3f}-{float(m['time'].max()) - self.start:.3f} s"
        window = " (window)" if self._start is not None or self._end is not None else ""
        return (
            f"<Trace{window} {len(self.captures)} capture(s), {len(m)} messages, "
            f"{int((m['type'] == 'request').sum())} requests, {len(self.vmids)} VMIDs{span}>"
        )

    @staticmethod
    def schema(table: str) -> str:
        """The declared columns of ``table`` as Markdown (``Trace.schema('transactions')``)."""
        if table not in TABLES:
            raise MissingData(suggest(table, list(TABLES), "table"))
        return TABLES[table].doc_table()


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
        raise ValueError(f"unknown engine {engine!r}; choose auto, fast or scapy")
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
    return fastpath.decode(rc, capture), problems


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
    get_dialect(dialect)
    sources = [paths] if isinstance(paths, str | os.PathLike) or hasattr(paths, "read") else list(paths)  # type: ignore[arg-type]
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
