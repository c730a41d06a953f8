"""The generated dissector behaves the same under Lua 5.2 (Wireshark 4.0) and Lua 5.4 (4.4+).

The tshark on CI embeds Lua 5.2 only. Here plain ``lua5.2`` / ``lua5.4`` interpreters run the
generated file against ``stub_wireshark.lua`` (a small stand-in for Wireshark's Lua API) over
the same records, and the printed trees must be identical; skipped when an interpreter is
missing (Debian: apt-get install lua5.2 lua5.4).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dissector.layers import fragment
from dissector.wireshark import generate_lua
from tests.wireshark.builders import CASES, NOTIFICATION, REPLY, REQUEST, build, cap, header

STUB = Path(__file__).with_name("stub_wireshark.lua")
INTERPRETERS = ("lua5.2", "lua5.4")


def _lua_bytes(data: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def _records() -> list[bytes]:
    """Every layout once (default values), some faults, a reassembled message and a pairing."""
    out = []
    for role, msg_type, msg_id, cls in CASES:
        out.append(cap(build(role, msg_type, msg_id, cls, 1, 6, {}), 1 if msg_type == REQUEST else 2))
    names = b"".join(struct.pack("<BBH", 2, 0, 12) + b"vm-name-%04d" % i for i in range(30))
    out += [cap(p, 2) for p in fragment(header(REPLY, 4, 0x56000010) + struct.pack("<II", 0, 30) + names)]
    out += [
        cap(header(REQUEST, 7, 0x56000004) + b"\x45\x00\x00\x00"),
        cap(header(REPLY, 7, 0x56000004) + b"\x02\x00\x00\x00", 2),
        cap(header(REQUEST, 8, 0x56000004) + b"\x45"),
        cap(header(NOTIFICATION, 1, 0x56100001) + struct.pack("<HHI", 0x80, 3, 30) + bytes(6), 2),
        cap(header(REQUEST, 9, 0x56000041) + struct.pack("<QQBBH", 2**64 - 1, 1, 3, 28, 0) + b"abc"),
        cap(header(REQUEST, 9, 0x56000055) + struct.pack("<Q", 2**63 + 5) + b"\x01\x00\x00\x00"),
        cap(b"\x21\x01"),
        cap(header(REQUEST, 15, 0x56000009, fragments=2) + bytes(232)),
    ]
    return out


def test_same_tree_under_lua_52_and_54(tmp_path):
    found = {name: shutil.which(name) for name in INTERPRETERS}
    found = {name: exe for name, exe in found.items() if exe is not None}
    if not found:
        pytest.skip("no lua5.2 / lua5.4 interpreter (Debian: apt-get install lua5.2 lua5.4)")
    lua = tmp_path / "gunyah_rm.lua"
    lua.write_text(generate_lua(), encoding="utf-8")
    rows = ",\n".join(f"{{{_lua_bytes(r)}, {i * 0.000123457:.9f}}}" for i, r in enumerate(_records()))
    driver = tmp_path / "driver.lua"
    driver.write_text(
        f"dofile({str(STUB)!r})\ndofile({str(lua)!r})\nRUN({{\n{rows}\n}})\n"
        "for _, line in ipairs(OUT) do print(line) end\n",
        encoding="utf-8",
    )
    outputs = {}
    for name, exe in found.items():
        done = subprocess.run([exe, str(driver)], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (name, done.stderr)
        assert "gunyah_rm.seq" in done.stdout and "Gunyah RM SRT Statistics" in done.stdout
        outputs[name] = done.stdout
    if len(outputs) == 2:
        a, b = outputs.values()
        diff = [(x, y) for x, y in zip(a.splitlines(), b.splitlines(), strict=False) if x != y]
        assert a == b, diff[:20]
