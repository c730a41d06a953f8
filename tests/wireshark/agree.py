"""What ghrm says about a capture, in the shape ``dissector.wireshark.tshark`` reads tshark's view.

The ghrm side is the reference: ``decode_file`` for every message (design.md 1.3 JSON plus the
kinds of its malformations) and ``dissector.analysis`` for the request/reply pairing and the
SRT table. ``disagreements`` lists, message by message, every key where tshark differs.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import pandas as pd

from dissector.analysis.context import GENERATED
from dissector.analysis.decode_context import exchange_context
from dissector.analysis.errors import df_errors
from dissector.analysis.messages import build_messages
from dissector.analysis.scapy_path import columns_from_decoded
from dissector.analysis.srt import df_srt
from dissector.analysis.transactions import df_transactions
from dissector.decoded import DecodedMessage, decode_file
from dissector.trace import open_trace

COMPARED = (
    "frames", "direction", "client_vmid", "type", "seq", "msg_id", "msg_name", "fragments",
    "err_code", "err_name", "fields",
)  # fmt: skip
LATENCY_TOLERANCE = 1e-6  # "to the microsecond"


def ghrm_messages(path: str | os.PathLike[str]) -> list[DecodedMessage]:
    return [m for m in decode_file(os.fspath(path)) if isinstance(m, DecodedMessage)]


def ghrm_transactions(
    path: str | os.PathLike[str], messages: list[DecodedMessage] | None = None
) -> pd.DataFrame:
    """ghrm's transactions table (dissector.analysis, Scapy engine) of one capture."""
    items = messages if messages is not None else ghrm_messages(path)
    columns, _ = columns_from_decoded(items, os.path.basename(path))
    table, _ = build_messages([columns])
    return df_transactions(table)


def ghrm_view(
    path: str | os.PathLike[str], transactions: pd.DataFrame | None = None
) -> dict[int, dict[str, Any]]:
    """Per first frame: ghrm's JSON object, malformation kinds, and the pairing links.

    Links carry ghrm's number of the other message (its first record, design.md 1.3), as the
    plugin's response_in/request_in do; Wireshark shows the message itself in its last record.
    """
    messages = ghrm_messages(path)
    try:
        context = exchange_context(os.fspath(path), "rm", follow=False)
        rows = open_trace(os.fspath(path)).messages["frame"].value_counts()
        shared = set(rows[rows > 1].index)  # two messages start in one record: jsonl keys by frame
    except OverflowError:  # ghrm's ledgers on 2^63-byte parcels (issue 19.6, branch reliability)
        context, shared = None, set()
    out: dict[int, dict[str, Any]] = {}
    for msg in messages:
        row = msg.to_json()
        # the Lua plugin does not mark fields a lost continuation may have shifted (issue 13.9)
        row["fields"].pop("_untrusted", None)
        row["generated"] = None if context is None else dict(context(row))
        row["kinds"] = [p.kind for p in msg.problems if p.kind != "untrusted"]
        row["response_in"] = row["request_in"] = row["latency"] = None
        if row["frame"] in shared:
            row["generated"] = None  # nothing to compare: the jsonl record mixes two messages
        out[row["frame"]] = row
    tx = transactions if transactions is not None else ghrm_transactions(path, messages)
    for rec in tx.itertuples(index=False):
        req, rep = rec.request_frame, rec.reply_frame
        if pd.isna(req) or pd.isna(rep):
            continue
        req, rep = int(req), int(rep)
        out[rep]["request_in"] = req
        if rec.status in ("ok", "error", "malformed"):  # answered (malformed: error code lost)
            out[req]["response_in"] = rep
            out[rep]["latency"] = float(rec.latency)
    return out


def disagreements(ghrm: dict[int, dict[str, Any]], tshark: list[dict[str, Any]]) -> list[str]:
    """Every difference between ghrm's view and tshark's messages, one line each (the generated
    ``vm`` of memory and IRQ calls included: the plugin follows handles as ``context.Resources``)."""
    problems: list[str] = []
    seen: dict[int, dict[str, Any]] = {}
    for msg in tshark:
        if msg["frame"] in seen:
            problems.append(f"frame {msg['frame']}: tshark shows the message twice")
        seen[msg["frame"]] = msg
    for frame in sorted(set(ghrm) - set(seen)):
        problems.append(f"frame {frame}: ghrm has a message tshark does not show: {ghrm[frame]}")
    for frame in sorted(set(seen) - set(ghrm)):
        problems.append(f"frame {frame}: tshark shows a message ghrm does not have: {seen[frame]}")
    for frame in sorted(set(ghrm) & set(seen)):
        g, t = ghrm[frame], seen[frame]
        where = f"frame {frame} ({g['msg_name']} {g['type']})"
        for key in COMPARED:
            if g[key] != t[key]:
                problems.append(f"{where}: {key}: ghrm {g[key]!r} != tshark {t[key]!r}")
        kinds = [kind for kind, _ in t["malformed"]]
        if g["kinds"] != kinds:
            problems.append(f"{where}: malformed: ghrm {g['malformed']!r} != tshark {t['malformed']!r}")
        if t["shown_in"] != g["frames"][-1]:
            problems.append(f"{where}: tshark shows it in frame {t['shown_in']}, not its last record")
        for key in ("response_in", "request_in"):
            if g[key] != t[key]:
                problems.append(f"{where}: {key}: ghrm {g[key]} != tshark {t[key]}")
        for key in GENERATED if g["generated"] is not None else ():
            gv, tv = g["generated"][key], t["generated"][key]
            same = gv == tv or (
                key == "latency" and gv is not None and tv is not None and math.isclose(gv, tv, abs_tol=1e-9)
            )
            if not same:
                problems.append(f"{where}: generated {key}: ghrm {gv!r} != tshark {tv!r}")
        gl, tl = g["latency"], t["latency"]
        if (gl is None) != (tl is None) or (
            gl is not None and tl is not None and not math.isclose(gl, tl, abs_tol=LATENCY_TOLERANCE)
        ):
            problems.append(f"{where}: latency: ghrm {gl} != tshark {tl}")
    return problems


_SRT_ROW = re.compile(
    r"^0x(?P<id>[0-9a-f]{8})\s+(?P<name>\S+)\s+(?P<calls>\d+)\s+(?P<errors>\d+)\s+(?P<unanswered>\d+)\s+"
    r"(?P<min>[-\d.]+)\s+(?P<max>[-\d.]+)\s+(?P<avg>[-\d.]+)\s+(?P<sum>[-\d.]+)\s*$"
)


def parse_srt(text: str) -> dict[int, dict[str, Any]]:
    """Rows of ``-z gunyah_rm,srt`` output by message id."""
    rows: dict[int, dict[str, Any]] = {}
    for line in text.splitlines():
        m = _SRT_ROW.match(line.strip())
        if m is None:
            continue
        number = lambda s: None if s == "-" else float(s)  # noqa: E731
        rows[int(m["id"], 16)] = {
            "name": m["name"],
            "calls": int(m["calls"]),
            "errors": int(m["errors"]),
            "unanswered": int(m["unanswered"]),
            "min": number(m["min"]),
            "max": number(m["max"]),
            "mean": number(m["avg"]),
            "sum": number(m["sum"]),
        }
    return rows


def ghrm_srt(
    path: str | os.PathLike[str], transactions: pd.DataFrame | None = None
) -> dict[int, dict[str, Any]]:
    """ghrm's SRT table (dissector.analysis.srt.df_srt) by message id."""
    tx = transactions if transactions is not None else ghrm_transactions(path)
    table = df_srt(tx)
    rows: dict[int, dict[str, Any]] = {}
    for rec in table.itertuples(index=False):
        rows[int(rec.msg_id)] = {
            "name": str(rec.name),
            "calls": int(rec.calls),
            "errors": int(rec.errors),
            "unanswered": int(rec.unanswered),
            **{
                k: None if pd.isna(getattr(rec, k)) else float(getattr(rec, k))
                for k in ("min", "max", "mean")
            },
            "sum": float(rec.sum),
        }
    return rows


def srt_disagreements(ghrm: dict[int, dict[str, Any]], tshark: dict[int, dict[str, Any]]) -> list[str]:
    problems = []
    for msg_id in sorted(set(ghrm) | set(tshark)):
        g, t = ghrm.get(msg_id), tshark.get(msg_id)
        if g is None or t is None:
            problems.append(f"{msg_id:#010x}: ghrm {g} != tshark {t}")
            continue
        for key in ("name", "calls", "errors", "unanswered"):
            if g[key] != t[key]:
                problems.append(f"{msg_id:#010x} {key}: ghrm {g[key]} != tshark {t[key]}")
        for key in ("min", "max", "mean", "sum"):
            gv, tv = g[key], t[key]
            if gv is None and tv is None:
                continue
            # tshark prints 6 decimals
            if gv is None or tv is None or not math.isclose(gv, tv, abs_tol=1.5e-6):
                problems.append(f"{msg_id:#010x} {key}: ghrm {gv} != tshark {tv}")
    return problems


def expert_counts(packets: list[dict[str, Any]]) -> dict[str, int]:
    """How many expert infos of each ``gunyah_rm.expert.*`` kind tshark's JSON holds."""
    counts: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "_ws.expert":
                    for item in value if isinstance(value, list) else [value]:
                        for name in item:
                            if name.startswith("gunyah_rm.expert."):
                                counts[name[17:]] = counts.get(name[17:], 0) + 1
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(packets)
    return counts


def expected_experts(view: dict[int, dict[str, Any]]) -> dict[str, int]:
    """The expert infos ghrm's view implies (those tied to pairing, errors and malformations)."""
    calls = [m for m in view.values() if m["seq"] is not None]
    return {
        "malformed": sum(len(m["kinds"]) for m in view.values()),
        "error_reply": sum(1 for m in calls if m["type"] == "reply" and m["err_code"] not in (None, 0)),
        "unanswered": sum(1 for m in calls if m["type"] == "request" and m["response_in"] is None),
        "no_request": sum(1 for m in calls if m["type"] == "reply" and m["request_in"] is None),
    }


def expert_errors(text: str) -> list[tuple[int, str, str, str]]:
    """(frequency, group, protocol, summary) rows of ``-z expert,error`` output."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if m:
            rows.append((int(m[1]), m[2], m[3], m[4]))
    return rows


def section(text: str, title: str) -> list[str]:
    """The lines of one ``-z gunyah_rm,...`` table (between its title and the closing rule)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("====="))
    return lines[start + 3 : end]  # title, filter, column names


def parse_errors(text: str) -> list[dict[str, Any]]:
    """Rows of ``-z gunyah_rm,errors``."""
    rows = []
    for line in section(text, "Gunyah RM Errors"):
        if line.startswith("("):
            continue
        name, err, code, errno, count, first, last, vms, frames = line.split()
        rows.append(
            {
                "name": name,
                "err_name": err,
                "err_code": int(code, 16),
                "errno": errno,
                "count": int(count),
                "first": float(first),
                "last": float(last),
                "vmids": () if vms == "-" else tuple(int(v, 16) for v in vms.split(",")),
                "frames": tuple(int(f) for f in frames.split(",")),
            }
        )
    return rows


def ghrm_errors(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """``ghrm errors`` rows (dissector.analysis.errors.df_errors) of one capture."""
    columns, _ = columns_from_decoded(ghrm_messages(path), os.path.basename(path))
    table, _ = build_messages([columns])
    start = table["time"].min()
    rows = []
    for rec in df_errors(table).itertuples(index=False):
        rows.append(
            {
                "name": str(rec.name),
                "err_name": str(rec.err_name),
                "err_code": int(rec.err_code),
                "errno": str(rec.errno),
                "count": int(rec.count),
                "first": float(rec.first - start),
                "last": float(rec.last - start),
                "vmids": tuple(int(v) for v in rec.vmids),
                "frames": tuple(int(f) for f in rec.frames),
            }
        )
    return rows


def error_disagreements(ghrm: list[dict[str, Any]], tshark: list[dict[str, Any]], vms: bool) -> list[str]:
    problems = []
    if len(ghrm) != len(tshark):
        problems.append(f"{len(ghrm)} ghrm error rows != {len(tshark)} tshark rows")
    for g, t in zip(ghrm, tshark, strict=False):
        for key in ("name", "err_name", "err_code", "errno", "count", "frames", *(("vmids",) if vms else ())):
            if g[key] != t[key]:
                problems.append(f"{g['name']} {g['err_name']}: {key}: ghrm {g[key]} != tshark {t[key]}")
        for key in ("first", "last"):
            if not math.isclose(g[key], t[key], abs_tol=1.5e-6):
                problems.append(f"{g['name']} {g['err_name']}: {key}: ghrm {g[key]} != tshark {t[key]}")
    return problems


_LIFE_ROW = re.compile(
    r"^0x(?P<vmid>[0-9a-f]+)\s+(?P<inst>\d+)\s+(?P<alloc>\S+)\s+(?P<ready>\S+)\s+(?P<boot>\S+)\s+(?P<run>\S+)\s+"
    r"(?P<exit>\S+)\s+(?P<teardown>\S+)\s+(?P<final>\S+)\s+(?P<errors>\d+)\s+(?P<unans>\d+)\s+(?P<states>\S+)$"
)
_LIFE_FAILED = re.compile(r"^0x(?P<vmid>[0-9a-f]+)\s+(?P<inst>\d+)  (?P<why>.+)$")
LIFE_TOLERANCE = 1.5e-6  # seconds: tshark prints 6 decimals of s, 3 of ms


def parse_lifecycles(text: str) -> dict[tuple[int, int], dict[str, Any]]:
    """Rows of ``-z gunyah_rm,lifecycle`` by (vmid, instance), times in seconds, with "What failed"."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    failed = False
    for line in section(text, "Gunyah RM VM Lifecycles"):
        if line == "What failed":
            failed = True
            continue
        m = (_LIFE_FAILED if failed else _LIFE_ROW).match(line)
        if m is None:
            continue
        key = (int(m["vmid"], 16), int(m["inst"]))
        if failed:
            rows[key]["failed"] = m["why"]
            continue

        def number(s: str, scale: float = 1.0) -> float:
            return math.nan if s == "-" else float(s) / scale

        rows[key] = {
            "allocated_at": number(m["alloc"]),
            "time_to_ready": number(m["ready"], 1e3),
            "boot_latency": number(m["boot"], 1e3),
            "run_time": number(m["run"]),
            "exit_type": None if m["exit"] == "-" else m["exit"],
            "teardown_time": number(m["teardown"], 1e3),
            "final_state": None if m["final"] == "-" else m["final"],
            "errors": int(m["errors"]),
            "unanswered": int(m["unans"]),
            "states": "" if m["states"] == "-" else m["states"],
            "failed": "",
        }
    return rows


def ghrm_lifecycles(path: str | os.PathLike[str]) -> dict[tuple[int, int], dict[str, Any]]:
    """``ghrm lifecycle --summary`` of one capture (the public table and the "What failed" text)."""
    from dissector.analysis.cli import _failed

    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for r in open_trace(os.fspath(path)).lifecycle_summary.itertuples(index=False):
        rows[(int(r.vmid), int(r.instance))] = {
            "allocated_at": float(r.allocated_at),
            "time_to_ready": float(r.time_to_ready),
            "boot_latency": float(r.boot_latency),
            "run_time": float(r.run_time),
            "exit_type": None if pd.isna(r.exit_type) else str(r.exit_type),
            "teardown_time": float(r.teardown_time),
            "final_state": None if pd.isna(r.final_state) else str(r.final_state),
            "errors": int(r.errors),
            "unanswered": int(r.unanswered),
            "states": str(r.states),
            "failed": _failed(r),
        }
    return rows


def lifecycle_disagreements(
    ghrm: dict[tuple[int, int], dict[str, Any]], tshark: dict[tuple[int, int], dict[str, Any]]
) -> list[str]:
    """Every value where the two summaries differ (times to the microsecond, NaN equal to NaN)."""
    problems = []
    for key in sorted(set(ghrm) | set(tshark)):
        g, t = ghrm.get(key), tshark.get(key)
        where = f"VM {key[0]:#x} instance {key[1]}"
        if g is None or t is None:
            problems.append(f"{where}: ghrm {g} != tshark {t}")
            continue
        for name, gv in g.items():
            tv = t[name]
            if isinstance(gv, float):
                same = (math.isnan(gv) and math.isnan(tv)) or math.isclose(gv, tv, abs_tol=LIFE_TOLERANCE)
            else:
                same = gv == tv
            if not same:
                problems.append(f"{where}: {name}: ghrm {gv!r} != tshark {tv!r}")
    return problems
