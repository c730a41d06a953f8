"""Run tshark with the generated dissector and read its JSON back as ghrm message objects.

Why: two independent decoders agreeing on every field is the strongest check on both, and a
person who has a Wireshark export wants the same objects ``ghrm decode --format jsonl`` prints.
``tshark_messages()`` returns, per RM message, a dict with the keys of design.md 1.3 (``frame``,
``frames``, ``direction``, ``client_vmid``, ``type``, ``seq``, ``msg_id``, ``msg_name``,
``fragments``, ``err_code``, ``err_name``, ``fields``) plus what only Wireshark adds:
``malformed`` as a list of ``(kind, text)``, ``response_in``, ``request_in`` (frame numbers of
the frames that show the other message) and ``latency`` (seconds since the request).

tshark exits 0 on Lua errors, so ``TsharkRun.lua_errors`` collects them from stderr and from
the JSON (a failing dissector call leaves a "Lua Error" item in the tree).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from dissector.protocol.wire import MsgType

from .lua import PROTO, generate_lua

TYPE_LABELS = {t.value: t.label for t in MsgType}
DIRECTION_LABELS = {0: "unknown", 1: "to_rm", 2: "from_rm"}
FT_STRING = 26  # ftenum values in tshark's "_raw" arrays (stable since 3.x)
FT_BYTES = 30
_ROOT = PROTO
_PAYLOAD = f"{PROTO}.payload"
# runtime.lua fields that sit inside the payload subtree
_RUNTIME_ROLES = {f"{PROTO}.data": {"bytes"}}


@dataclass
class TsharkRun:
    """One tshark run: the parsed JSON packets, what it printed, and any Lua errors."""

    packets: list[dict[str, Any]]
    stdout: str
    stderr: str
    returncode: int
    lua_errors: list[str] = field(default_factory=list)
    stats: str = ""  # what -z statistics printed


def find_tshark() -> str | None:
    """Path of tshark, or None when Wireshark's command-line tools are not installed."""
    return shutil.which("tshark")


def lua_error_lines(stderr: str) -> list[str]:
    """stderr lines that report a Lua problem (tshark still exits 0 for these)."""
    return [
        line
        for line in stderr.splitlines()
        if "lua" in line.lower() and "running as user" not in line.lower()
    ]


def _walk_lua_errors(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("Lua Error") or key == "_ws.lua.error":
                found.append(key if key.startswith("Lua Error") else str(value))
            _walk_lua_errors(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk_lua_errors(value, found)


def run_tshark(
    capture: str | os.PathLike[str],
    lua: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    tshark: str | None = None,
    json_output: bool = True,
    timeout: float = 600,
) -> TsharkRun:
    """``tshark -X lua_script:LUA -r CAPTURE -2 ...``; with ``json_output`` the JSON tree is parsed."""
    exe = tshark or find_tshark()
    if exe is None:
        raise FileNotFoundError("tshark is not installed (Debian: apt-get install tshark)")
    cmd = [exe, "-n", "-X", f"lua_script:{os.fspath(lua)}", "-r", os.fspath(capture), "-2"]
    if json_output:
        cmd += ["-T", "json", "-x", "-J", f"frame {PROTO}", "--no-duplicate-keys"]
    cmd += list(args)
    done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    # tshark copies string fields into its JSON as they are: not always valid UTF-8
    stdout = done.stdout.decode("utf-8", errors="replace")
    stderr = done.stderr.decode("utf-8", errors="replace")
    packets: list[dict[str, Any]] = []
    errors = lua_error_lines(stderr)
    stats = stdout
    if json_output and stdout.strip():
        # statistics asked for with -z follow the JSON array
        packets, end = json.JSONDecoder().raw_decode(stdout.lstrip())
        stats = stdout.lstrip()[end:]
        _walk_lua_errors(packets, errors)
    return TsharkRun(packets, stdout, stderr, done.returncode, errors, stats)


@cache
def field_roles(dialect: str = "rm") -> dict[str, tuple[frozenset[str], bool]]:
    """Filter name -> (roles it has, reserved?) for every payload field of the generated file."""
    from .lua import field_specs

    roles: dict[str, set[str]] = {}
    reserved: dict[str, bool] = {}
    for spec in field_specs(dialect):
        roles.setdefault(spec.abbrev, set()).add(spec.role)
        reserved[spec.abbrev] = reserved.get(spec.abbrev, False) or spec.reserved
    for abbrev, extra in _RUNTIME_ROLES.items():
        roles.setdefault(abbrev, set()).update(extra)
    return {a: (frozenset(r), reserved.get(a, False)) for a, r in roles.items()}


def _many(value: Any) -> list[Any]:
    """tshark's ``--no-duplicate-keys`` turns repeated keys into lists."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _raw_items(node: dict[str, Any], key: str) -> list[list[Any]]:
    raw = node.get(f"{key}_raw")
    if raw is None:
        return []
    if raw and isinstance(raw[0], list):
        return raw
    return [raw]


def _scalar(value: str, raw: list[Any] | None, roles: frozenset[str]) -> Any:
    role = next(iter(roles)) if len(roles) == 1 else None
    if role is None:  # a name used as text in one message and as bytes in another
        role = "text" if raw is not None and len(raw) >= 5 and raw[4] == FT_STRING else "bytes"
    if role == "int":
        return int(value, 0)
    if role == "printable":  # <bytes>_text: already the printable rendering, shown as it is
        return value
    if role == "text":
        if raw is not None and isinstance(raw[0], str):
            return bytes.fromhex(raw[0]).decode("utf-8", errors="replace")
        return value
    return value.replace(":", "")  # bytes and padding: ghrm prints bare hex


def _zero(value: Any) -> bool:
    if isinstance(value, int):
        return value == 0
    return isinstance(value, str) and not value.strip("0")


def payload_fields(node: Any, prefix: str = PROTO, dialect: str = "rm") -> dict[str, Any]:
    """The ``fields`` object of ghrm's JSON from a (sub)tree of tshark's JSON."""
    if not isinstance(node, dict):
        return {}  # an FT_NONE item without children prints as ""
    roles = field_roles(dialect)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if not key.startswith(prefix + ".") or key.endswith(("_raw", "_tree")):
            continue
        name = key[len(prefix) + 1 :]
        if "." in name:
            continue
        kinds, reserved = roles.get(key, (frozenset({"int"}), False))
        if "list" in kinds:
            entries: list[Any] = []
            for item in _many(value):
                sub = item.get(f"{key}.entry") if isinstance(item, dict) else None
                entries.extend(payload_fields(e, key, dialect) for e in _many(sub))
            out[name] = entries
        elif "struct" in kinds:
            out[name] = payload_fields(_many(value)[0], key, dialect)
        else:
            raws = _raw_items(node, key)
            values = [
                _scalar(v, raws[i] if i < len(raws) else None, kinds) for i, v in enumerate(_many(value))
            ]
            result = values[0] if len(values) == 1 else values
            if reserved and all(_zero(v) for v in values):
                continue
            out[name] = result
    return out


def _int(node: dict[str, Any], name: str) -> int | None:
    value = node.get(f"{PROTO}.{name}")
    if value is None:
        return None
    return int(_many(value)[0], 0)


def message_from_layer(layer: dict[str, Any], frame: int, dialect: str = "rm") -> dict[str, Any] | None:
    """One RM message from the ``gunyah_rm`` layer of the frame that shows it, else None."""
    frames = [int(f) for f in _many(layer.get(f"{PROTO}.frames"))]
    if not frames:
        return None  # a fragment shown in full elsewhere, or a record holding no message
    mtype = _int(layer, "type")
    kinds = [t.get(f"{PROTO}.malformed.kind") for t in _many(layer.get(f"{PROTO}.malformed_tree"))]
    texts = _many(layer.get(f"{PROTO}.malformed"))
    time = layer.get(f"{PROTO}.time")
    return {
        "frame": frames[0],
        "frames": frames,
        "shown_in": frame,
        "direction": DIRECTION_LABELS.get(_int(layer, "direction") or 0, "unknown"),
        "client_vmid": _int(layer, "client_vmid"),
        "type": None if mtype is None else TYPE_LABELS[mtype],
        "seq": _int(layer, "seq"),
        "msg_id": _int(layer, "msg_id"),
        "msg_name": layer.get(f"{PROTO}.msg_name"),
        "fragments": _int(layer, "fragments"),
        "err_code": _int(layer, "err_code"),
        "err_name": layer.get(f"{PROTO}.err_name"),
        "fields": payload_fields(layer.get(_PAYLOAD), PROTO, dialect) if _PAYLOAD in layer else {},
        "malformed": list(zip(kinds, texts, strict=False)),
        "response_in": _int(layer, "response_in"),
        "request_in": _int(layer, "request_in"),
        "latency": None if time is None else float(str(time).split()[0]),
        "generated": generated_fields(layer),
    }


def generated_fields(layer: dict[str, Any]) -> dict[str, Any]:
    """The generated fields (``vm``, ``request_frame``, ``reply_frame``, ``latency``, ``errno``)
    as ``ghrm decode --format jsonl`` writes them (None when absent)."""
    latency = layer.get(f"{PROTO}.latency")
    errno = layer.get(f"{PROTO}.errno")
    return {
        "vm": _int(layer, "vm"),
        "request_frame": _int(layer, "request_frame"),
        "reply_frame": _int(layer, "reply_frame"),
        "latency": None if latency is None else float(_many(latency)[0]),
        "errno": None if errno is None else _many(errno)[0],
    }


def messages_from_json(packets: Iterable[dict[str, Any]], dialect: str = "rm") -> list[dict[str, Any]]:
    """Every RM message of a ``tshark -T json -J "frame gunyah_rm"`` output, in frame order."""
    out = []
    for packet in packets:
        layers = packet.get("_source", {}).get("layers", {})
        layer = layers.get(_ROOT)
        if not isinstance(layer, dict):
            continue
        frame = int(layers.get("frame", {}).get("frame.number", 0))
        msg = message_from_layer(layer, frame, dialect)
        if msg is not None:
            out.append(msg)
    return out


def tshark_messages(
    capture: str | os.PathLike[str],
    lua: str | os.PathLike[str] | None = None,
    *,
    dialect: str = "rm",
    args: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], TsharkRun]:
    """Decode ``capture`` with tshark and the generated dissector (generated now when ``lua`` is
    None); ``args`` are more tshark options, e.g. ``("-z", "gunyah_rm,srt")`` (output in ``stats``)."""
    if lua is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ghrm-lua-") as folder:
            path = Path(folder) / "gunyah_rm.lua"
            path.write_text(generate_lua(dialect), encoding="utf-8")
            run = run_tshark(capture, path, args)
    else:
        run = run_tshark(capture, lua, args)
    return messages_from_json(run.packets, dialect), run
