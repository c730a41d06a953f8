"""Every analysis table's columns, declared once: name, dtype, one line of meaning.

Why declared: a notebook, a report and a Dask job over many captures all rely on the same
column names and dtypes, and an empty capture must still give a table with the right columns.
``Schema.frame`` builds a DataFrame from numpy arrays (no per-row Python objects), casting
every column to its declared dtype; ``Schema.empty`` gives the zero-row table; ``concat`` joins
tables of several captures, unifying categoricals so they stay categorical.

Dtype conventions: times are float seconds (as ``ghrm decode --format jsonl``), NaN when
unknown; columns declared ``instant`` hold absolute times, which ``dissector.analysis.timebase``
presents on the one time base of the public ``Trace`` tables; ``*_ns`` columns keep the integer
nanoseconds; integers that can be unknown use pandas' nullable types (``Int32``, ``Int64``);
names are categorical; frame lists are Python tuples in an object column.

The declarations import neither pandas nor numpy (each function that builds a frame imports
them), so the table registry and ``ghrm --help`` read them without loading either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

from . import status as statuses


@dataclass(frozen=True)
class Column:
    """One column: its name, pandas dtype (or ``category``), and what it means."""

    name: str
    dtype: str
    doc: str
    categories: tuple[str, ...] | None = None  # fixed categories (in order), else from the data
    ordered: bool = False
    instant: bool = False  # an absolute time (float s): public tables show it on the one time base
    ms: bool = False  # a duration (float s) that public tables also show as ``<name>_ms``

    def pandas_dtype(self, values: Iterable[Any] | None = None) -> Any:
        import pandas as pd

        if self.dtype != "category":
            return self.dtype
        if self.categories is not None:
            return pd.CategoricalDtype(list(self.categories), ordered=self.ordered)
        return "category"


@dataclass(frozen=True)
class Schema:
    """The declared columns of one table, in display order."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    lead: tuple[str, ...] = ()  # columns a reader needs first in the public table (after ``time``)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}; columns: {', '.join(self.names)}")

    def empty(self) -> pd.DataFrame:
        """A zero-row table with every declared column and dtype."""
        import numpy as np

        return self.frame({c.name: np.empty(0, dtype=object) for c in self.columns})

    def frame(self, data: Mapping[str, Any], index: Any = None) -> pd.DataFrame:
        """A DataFrame from column arrays, in declared order and dtypes; extra keys are an error."""
        import pandas as pd

        extra = set(data) - set(self.names)
        if extra:
            raise ValueError(f"{self.name}: undeclared column(s) {sorted(extra)}")
        missing = [n for n in self.names if n not in data]
        if missing:
            raise ValueError(f"{self.name}: missing column(s) {missing}")
        cols = {c.name: _cast(data[c.name], c) for c in self.columns}
        return pd.DataFrame(cols, index=index, copy=False)

    def part(self, data: Mapping[str, Any]) -> pd.DataFrame:
        """A DataFrame of some declared columns (``data``'s), in declared order and dtypes."""
        import pandas as pd

        extra = set(data) - set(self.names)
        if extra:
            raise ValueError(f"{self.name}: undeclared column(s) {sorted(extra)}")
        cols = {c.name: _cast(data[c.name], c) for c in self.columns if c.name in data}
        return pd.DataFrame(cols, copy=False)

    def check(self, df: pd.DataFrame) -> None:
        """Raise ``AssertionError`` naming the first column whose name or dtype differs."""
        import pandas as pd

        assert list(df.columns) == self.names, f"{self.name}: columns {list(df.columns)} != {self.names}"
        for c in self.columns:
            got = df[c.name].dtype
            if c.dtype == "category":
                assert isinstance(got, pd.CategoricalDtype), f"{self.name}.{c.name}: {got} is not categorical"
                if c.categories is not None:
                    assert list(got.categories) == list(c.categories), f"{self.name}.{c.name}: categories"
                assert got.ordered == c.ordered, f"{self.name}.{c.name}: ordered is {got.ordered}"
            else:
                assert got == pd.api.types.pandas_dtype(c.dtype), f"{self.name}.{c.name}: {got} != {c.dtype}"

    def doc_table(self) -> str:
        """The columns as a Markdown table, for docs and ``help()``."""
        rows = [f"| `{c.name}` | {c.dtype} | {c.doc} |" for c in self.columns]
        return "\n".join(
            [f"**{self.name}**: {self.doc}", "", "| column | dtype | meaning |", "|---|---|---|", *rows]
        )


def _cast(values: Any, col: Column) -> Any:
    """Turn one column's values into a pandas array of the declared dtype."""
    import numpy as np
    import pandas as pd

    if values is None:
        values = np.empty(0, dtype=object)
    if isinstance(values, pd.Series):
        values = values.array
    dtype = col.pandas_dtype()
    if col.dtype == "category":
        if isinstance(values, pd.Categorical):
            cat = values
            if col.categories is not None and list(cat.categories) != list(col.categories):
                cat = cat.set_categories(list(col.categories))
            return cat
        return pd.Categorical(values, dtype=dtype if col.categories is not None else None)
    if col.dtype == "object":
        if isinstance(values, np.ndarray) and values.dtype == object:
            return values
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    if col.dtype in ("str", "string"):
        return pd.array(values, dtype=dtype)
    if isinstance(values, np.ndarray) and values.dtype == object and len(values) == 0:
        return pd.array([], dtype=dtype)
    if isinstance(values, pd.api.extensions.ExtensionArray) and values.dtype == dtype:
        return values  # already what the column holds (``nullable``): no copy of a million rows
    return pd.array(values, dtype=dtype) if not isinstance(values, np.ndarray) else _numpy_cast(values, dtype)


def _numpy_cast(values: np.ndarray, dtype: str) -> Any:
    import pandas as pd

    if dtype[0].isupper():  # nullable integer / boolean
        if values.dtype == object:
            return pd.array(values, dtype=dtype)
        return pd.array(values, dtype=dtype)
    return values.astype(dtype, copy=False)


def nullable(values: np.ndarray, missing: np.ndarray, dtype: str) -> Any:
    """A pandas nullable array from numpy ``values`` and a boolean ``missing`` mask, without copies."""
    import numpy as np
    import pandas as pd

    np_dtype = {"Int8": np.int8, "Int16": np.int16, "Int32": np.int32, "Int64": np.int64}[dtype]
    return pd.arrays.IntegerArray(values.astype(np_dtype, copy=False), missing.astype(bool, copy=False))


def concat(frames: Sequence[pd.DataFrame], schema: Schema) -> pd.DataFrame:
    """Tables of several captures as one, categoricals unified (pandas would fall back to object)."""
    import pandas as pd

    given = [f for f in frames if f is not None]
    frames = [f for f in given if not f.empty]  # an empty table's categories carry no information
    if not frames:
        return given[0] if given else schema.empty()
    if len(frames) == 1:
        return frames[0]
    data: dict[str, Any] = {}
    for c in schema.columns:
        parts = [f[c.name] for f in frames]
        if c.dtype == "category" and c.categories is None:
            data[c.name] = pd.api.types.union_categoricals([p.array for p in parts], ignore_order=True)
            if c.ordered:  # keep the first part's order, new categories after it
                first = list(parts[0].cat.categories)
                more = [x for x in data[c.name].categories if x not in set(first)]
                data[c.name] = data[c.name].set_categories([*first, *more], ordered=True)
        else:
            data[c.name] = pd.concat(parts, ignore_index=True).array
    return schema.frame(data)


# ----------------------------------------------------------------------------------------------
# The tables.

# malformed: answered, but the reply's error code was lost (cut record, lost fragment)
STATUSES = statuses.STATUSES  # declared once, with what "answered" means, in ``status.py``
SEVERITIES = ("error", "warning", "note", "chat")  # Wireshark expert info, most severe first
DIRECTIONS = ("to_rm", "from_rm", "unknown")
MSG_TYPES = ("request", "reply", "notification", "continuation")
VMID_SOURCES = ("payload", "request", "allocated", "client")
# every findings category the analysis emits (timing: slow windows and outliers, dissector/plots)
CATEGORIES = (
    "response", "sequence", "lifecycle", "malformed", "protocol", "capture", "memory", "config", "irq",
    "timing",
)  # fmt: skip

# Columns several tables share (same name, dtype and meaning), declared once; ``ledgers.schema``
# and ``fleet.schema`` use them too.
CAPTURE = Column("capture", "category", "capture")
CALL_NAME = Column("name", "category", "call name")
CALL_ID = Column("msg_id", "Int64", "call id")
VM = Column("vmid", "int32", "VM")
UNANSWERED = Column("unanswered", "int64", "requests without a reply (incl. retransmitted ones)")


def distribution(of: str, mean: str) -> tuple[Column, ...]:
    """The six columns of a distribution of durations in seconds (the SRT's latency, the fleet's
    boot latency): ``min`` ("fastest OF"), ``mean``, ``p50``, ``p90``, ``p99``, ``max``."""
    return (
        Column("min", "float64", f"fastest {of}"),
        Column("mean", "float64", mean),
        Column("p50", "float64", "median"),
        Column("p90", "float64", "90th percentile"),
        Column("p99", "float64", "99th percentile"),
        Column("max", "float64", f"slowest {of}"),
    )


MESSAGES = Schema(
    "messages",
    "one row per RM message (reassembled; a stray fragment is its own row), in (capture, frame) order",
    (
        Column("capture", "category", "which capture the message came from (the path as given)"),
        Column("frame", "int64", "1-based number of the message's first capture record"),
        Column("frames", "object", "tuple of all its record numbers (several for a fragmented message)"),
        Column(
            "time",
            "float64",
            "when the first record was captured (epoch for pcap, since boot for dmesg); NaN if none",
            instant=True,
        ),
        Column("time_end", "float64", "when the last record was captured", instant=True),
        Column("time_ns", "Int64", "integer nanoseconds of the first record (exact; latencies use it)"),
        Column("direction", "category", "to_rm, from_rm or unknown (capture header)", DIRECTIONS),
        Column("client_vmid", "int32", "VM whose RM queue pair carried the message; 0xFFFF unknown"),
        Column(
            "type", "category", "request, reply, notification or continuation; NA if no header", MSG_TYPES
        ),
        Column("seq", "Int32", "RPC header seq; NA when the source did not record it (kernel TX logs)"),
        Column("msg_id", "Int64", "RPC header message id"),
        Column(
            "name", "category", "message name in the chosen dialect (UNKNOWN_0x... if no source names it)"
        ),
        Column("fragments", "Int16", "header fragment count (continuations that follow the first)"),
        Column("err_code", "Int64", "replies: the RM error code (first payload word)"),
        Column("err_name", "category", "replies: short RM error name (OK, NORESOURCE, ...)"),
        Column("vmid", "Int32", "VM the message concerns (see vmid_source); NA when unknown"),
        Column(
            "vmid_source", "category", "payload / request (paired request) / allocated / client", VMID_SOURCES
        ),
        Column("length", "int32", "bytes of the (reassembled) message, 8-byte header included"),
        Column(
            "payload_len", "int32", "payload bytes after the 8-byte header (a reply's error code included)"
        ),
        Column("vm_status", "Int16", "VM_STATUS notification: vm_status"),
        Column("os_status", "Int16", "VM_STATUS notification / VM_SET_STATUS request: os_status"),
        Column("exit_type", "Int32", "VM_EXITED notification: exit_type"),
        Column("exit_flags", "Int32", "VM_EXITED exit_reason word / VM_EXIT request: exit_flags"),
        Column("exit_code", "Int16", "VM_EXITED exit_reason word / VM_EXIT request: exit_code"),
        Column("stop_flags", "Int16", "VM_STOP request: flags (bit 0 = force)"),
        Column("stop_reason", "Int64", "VM_STOP request: stop_reason"),
        Column("auth_mech", "Int32", "VM_CONFIG_IMAGE request: auth_mech"),
        Column("synthetic", "bool", "the RPC header was made up by a log reader (not wire bytes)"),
        Column("malformed", "str", "null, or every reassembly and dissection fault as text (as jsonl)"),
        Column(
            "malformed_kind", "category", "kind of the first fault: header, length, fragment, truncated, ..."
        ),
        # generated fields of the exchange (analysis/context.py; jsonl keys and gunyah_rm.* in Lua)
        Column("vm", "Int32", "VM the exchange concerns (request vmid, allocated VMID, parcel/IRQ ledger)"),
        Column("request_frame", "Int64", "frame of the exchange's request"),
        Column("reply_frame", "Int64", "frame of the request's first reply"),
        Column("latency", "float64", "first reply time - request time, seconds"),
        Column("errno", "category", "Linux errno name of the first reply's RM error (-ENODEV, ...)"),
    ),
    lead=("time", "t", "direction", "name", "vmid", "seq", "err_name"),
)

TRANSACTIONS = Schema(
    "transactions",
    "one row per request, plus one per duplicate or orphan reply; paired by (client, seq, msg_id) in "
    "capture order (protocol.md 1.6)",
    (
        Column("capture", "category", "capture of the request (or of the reply, for orphan replies)"),
        Column(
            "time",
            "float64",
            "time of the row's first message (request, or the reply for orphans)",
            instant=True,
        ),
        Column("client_vmid", "int32", "client whose queue pair carried the call"),
        Column("vmid", "Int32", "VM the call concerns"),
        Column("vm", "Int32", "VM the exchange concerns, parcel/IRQ ledgers included (messages.vm)"),
        Column("seq", "Int32", "request seq (NA if the source did not record it)"),
        CALL_ID,
        CALL_NAME,
        Column(
            "status",
            "category",
            "ok, error, malformed (reply without its error code), unanswered, duplicate_reply, "
            "orphan_reply, retransmitted",
            STATUSES,
        ),
        Column("request_frame", "Int64", "frame of the request (Wireshark 'request in')"),
        Column("reply_frame", "Int64", "frame of the reply (Wireshark 'response in')"),
        Column("request_time", "float64", "when the request was sent", instant=True),
        Column("reply_time", "float64", "when the first reply came", instant=True),
        Column(
            "latency",
            "float64",
            "reply time - request time in seconds, first reply only (from integer ns)",
            ms=True,
        ),
        Column("latency_ns", "Int64", "the same in integer nanoseconds"),
        Column("err_code", "Int64", "error code of the reply"),
        Column("err_name", "category", "error name of the reply"),
        Column("replies", "int32", "replies seen for this request (>1: duplicates follow)"),
        Column(
            "reused_in", "Int64", "frame of a later request that reused this (client, seq, msg_id) while open"
        ),
    ),
)

SRT = Schema(
    "srt",
    "service response time per capture and call (tshark -z srt), first replies only; times in seconds",
    (
        CAPTURE,
        CALL_NAME,
        CALL_ID,
        Column("calls", "int64", "requests, answered or not (errors and unanswered are among them)"),
        Column("errors", "int64", "answered with a non-zero error code (status error)"),
        UNANSWERED,
        *distribution("reply", "mean latency"),
        Column("sum", "float64", "total time spent waiting"),
    ),
)

LIFECYCLES = Schema(
    "lifecycles",
    "one row per VM state interval, rebuilt from RM calls and VM_STATUS/VM_EXITED (protocol.md 4.1, 6.1, 8)",
    (
        CAPTURE,
        VM,
        Column("instance", "int32", "1, 2, ...: a VMID reused after VM_DEALLOCATE starts a new instance"),
        Column(
            "state",
            "category",
            "vm_status name (dialect numbering); ordered as the state machine: LOAD < AUTH < INIT < READY "
            "< INIT_FAILED < RUNNING < ... < EXITED < RESETTING < RESET",
            ordered=True,
        ),
        Column("start", "float64", "seconds: when the state began (the causing message)", instant=True),
        Column(
            "end",
            "float64",
            "seconds: when the next state began, or the capture end if ongoing",
            instant=True,
        ),
        Column("duration", "float64", "end - start in seconds"),
        Column("ongoing", "bool", "still in this state when the capture ended"),
        Column("cause", "category", "message that caused the state (VM_STATUS, VM_START reply, ...)"),
        Column("cause_frame", "int64", "frame of that message"),
    ),
)

LIFECYCLE_SUMMARY = Schema(
    "lifecycle_summary",
    "one row per VM instance: boot, run and teardown times, exit and final state",
    (
        CAPTURE,
        VM,
        Column("instance", "int32", "instance number of this VMID"),
        Column(
            "allocated_at",
            "float64",
            "VM_ALLOCATE request time (boot latency counts from it); NaN if allocated before the capture",
            instant=True,
        ),
        Column("first_seen", "float64", "first message about this instance", instant=True),
        Column("ready_at", "float64", "first READY", instant=True),
        Column("running_at", "float64", "first RUNNING", instant=True),
        Column("time_to_ready", "float64", "ready_at - allocated_at"),
        Column("boot_latency", "float64", "running_at - allocated_at (time to RUNNING)"),
        Column("run_time", "float64", "time spent RUNNING"),
        Column(
            "exited_at", "float64", "VM left RUNNING (VM_EXITED, EXITED status, forced stop)", instant=True
        ),
        Column("exit_type", "category", "VM_EXITED exit_type name"),
        Column("exit_reason", "str", "exit code and flags, or the VM_STOP reason"),
        Column("deallocated_at", "float64", "VM_DEALLOCATE reply time", instant=True),
        Column(
            "teardown_time",
            "float64",
            "deallocated_at - exited_at; for a VM that never ran, - the start of its first "
            "INIT_FAILED/EXITED/RESETTING/RESET state",
        ),
        Column(
            "final_state",
            "category",
            "last state, DEALLOCATED after VM_DEALLOCATE (ordered as lifecycles.state)",
            ordered=True,
        ),
        Column("states", "str", "state sequence, e.g. LOAD>INIT>READY>RUNNING>EXITED"),
        Column("errors", "int32", "error replies to calls about this instance (status error)"),
        Column("error_calls", "str", "those calls and errors, e.g. 'VM_START:NORESOURCE x2'"),
        Column("unanswered", "int32", "calls about this instance that got no reply"),
        Column(
            "first_failure",
            "str",
            "a VM that never reached RUNNING: its first failed call, e.g. 'VM_START NORESOURCE (frame 16)'",
        ),
    ),
)

ERRORS = Schema(
    "errors",
    "error replies counted per capture x call x error code, with the Linux errno",
    (
        CAPTURE,
        CALL_NAME,
        CALL_ID,
        Column("err_code", "Int64", "RM error code"),
        Column("err_name", "category", "RM error name"),
        Column("errno", "category", "what the Linux driver returns (-ENODEV, ...)"),
        Column("count", "int64", "replies"),
        Column("first", "float64", "first such reply, seconds", instant=True),
        Column("last", "float64", "last such reply, seconds", instant=True),
        Column("frames", "object", "tuple of reply frames"),
        Column("vmids", "object", "tuple of the VMs concerned"),
    ),
)

FINDINGS = Schema(
    "findings",
    "expert info as in Wireshark: what looks wrong or notable, with the frames to look at",
    (
        CAPTURE,
        Column("severity", "category", "error, warning, note or chat", SEVERITIES, ordered=True),
        Column("category", "category", ", ".join(CATEGORIES)),
        Column("code", "category", "stable identifier of the kind of finding (e.g. unanswered)"),
        Column("vmid", "Int32", "VM concerned, if one"),
        Column("name", "category", "message concerned, if one"),
        Column("time", "float64", "time of the first frame (NaN if none)", instant=True),
        Column("frames", "object", "tuple of frame numbers to look at"),
        Column("count", "int64", "occurrences summarised by this finding"),
        Column("text", "str", "what happened, for a kernel engineer"),
    ),
)

SLOW_WINDOWS = Schema(
    "slow_windows",
    "time spans in which the RM served several calls far slower than each call's own baseline "
    "(``dissector.analysis.timing``); one ``slow_window`` finding each",
    (
        CAPTURE,
        Column("start", "float64", "the first slowed call began service", instant=True),
        Column("end", "float64", "the first call served at normal speed again began service", instant=True),
        Column("duration", "float64", "end - start in seconds"),
        Column("calls", "int64", "calls the RM began serving in the window"),
        Column("names", "object", "tuple of their call names, in order of first appearance"),
        Column("frames", "object", "tuple of their request frames"),
        Column(
            "model",
            "category",
            "multiplicative (every call x factor) or constant (+ added)",
            ("multiplicative", "constant"),
        ),
        Column("factor", "float64", "median service time / baseline of the calls in the window"),
        Column("added", "float64", "median service time - baseline of the calls in the window, seconds"),
        Column("delay", "float64", "RM time the window added in total (sum over its calls), seconds"),
        Column("vmids", "object", "tuple of the VMs whose boot overlapped the window and had calls in it"),
    ),
)

PROBLEMS = Schema(
    "problems",
    "parts of the input the capture readers could not turn into records",
    (
        CAPTURE,
        Column("source", "str", "file and position"),
        Column("reason", "str", "what was wrong"),
        Column("offset", "Int64", "byte offset in a binary file"),
        Column("length", "Int64", "bytes skipped"),
        Column("line", "Int64", "line in a text file"),
        Column("fatal", "bool", "nothing after it could be read"),
    ),
)

TABLES: dict[str, Schema] = {
    s.name: s
    for s in (
        MESSAGES,
        TRANSACTIONS,
        SRT,
        LIFECYCLES,
        LIFECYCLE_SUMMARY,
        ERRORS,
        FINDINGS,
        SLOW_WINDOWS,
        PROBLEMS,
    )
}
