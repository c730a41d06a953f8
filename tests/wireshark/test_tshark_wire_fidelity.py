"""Issue 15 in tshark: the generated plugin of each dialect shows what ghrm shows.

The same hand-written capture as ``tests/e2e/test_wire_fidelity.py`` goes through tshark
once per dialect with that dialect's generated Lua: the JSON gives the fields (byte arrays
exactly, with their printable rendering) and names, the ``-V`` text the value names.
"""

from __future__ import annotations

import re
import subprocess
from xml.etree import ElementTree

import pytest

from dissector.wireshark import generate_lua
from dissector.wireshark.tshark import messages_from_json, run_tshark
from tests.fidelity import CASES, DIALECTS, Case, capture_bytes, frame_of


@pytest.fixture(scope="module")
def runs(
    tshark: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[int, dict], list[str]]]:
    """Per dialect: tshark's messages by frame, and per frame the shown text of each field."""
    folder = tmp_path_factory.mktemp("fidelity-tshark")
    capture = folder / "audit.pcap"
    capture.write_bytes(capture_bytes())
    out = {}
    for dialect in DIALECTS:
        lua = folder / f"gunyah_rm-{dialect}.lua"
        lua.write_text(generate_lua(dialect), encoding="utf-8")
        run = run_tshark(capture, lua)
        assert run.returncode == 0 and run.lua_errors == [], (dialect, run.lua_errors, run.stderr)
        messages = {m["frame"]: m for m in messages_from_json(run.packets, dialect)}
        pdml = subprocess.run(
            [tshark, "-n", "-X", f"lua_script:{lua}", "-r", str(capture), "-2", "-T", "pdml"],
            capture_output=True,
            check=True,
        ).stdout
        frames = [_shownames(packet) for packet in ElementTree.fromstring(pdml).iter("packet")]
        out[dialect] = (messages, frames)
    return out


def _ids(cases: tuple[Case, ...]) -> list[str]:
    return [c.name for c in cases]


def _shownames(packet: ElementTree.Element) -> dict[str, list[str]]:
    """Filter name -> the text tshark's tree shows for it (PDML ``showname``), in one frame.

    Reading by filter name keeps the check independent of the tree's labels."""
    out: dict[str, list[str]] = {}
    for f in packet.iter("field"):
        name, shown = f.get("name", ""), f.get("showname", "")
        if name.startswith("gunyah_rm."):
            out.setdefault(name[len("gunyah_rm.") :], []).append(shown.partition(": ")[2] or shown)
    return out


def _expect(fields: dict[str, list[str]], line: str) -> None:
    """One ``-V`` line of ghrm's Scapy tree (``name = VALUE``) holds in tshark's tree too."""
    name, _, value = (part.strip() for part in line.partition("="))
    name = "msg_id" if name.startswith("VM_") else name  # a bare "NAME (0x5600...)" line
    if name == "msg_id":
        value = line.strip()
    # the field itself, or the same field of list entries (gunyah_rm.entries.type)
    shown = [v for key, values in fields.items() if key == name or key.endswith("." + name) for v in values]
    assert shown, f"no {name} in {fields}"
    m = re.fullmatch(r"(\w+) \((0x[0-9a-f]+|\d+)\)", value)
    if m is None:  # a plain number
        assert any(int(v.split(" ")[0], 0) == int(value, 0) for v in shown), (line, shown)
        return
    word, number = m.group(1), int(m.group(2), 0)
    if word.startswith("UNKNOWN_0x"):  # Wireshark's own word for a value its value string lacks
        word = "Unknown"
    assert any(word in v and number in _numbers(v) for v in shown), (line, shown)


def _numbers(text: str) -> set[int]:
    return {int(n, 0) for n in re.findall(r"\b(0x[0-9a-f]+|\d+)\b", text)}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_tshark_known_answers(runs, case: Case, dialect: str) -> None:
    messages, frames = runs[dialect]
    msg = messages[frame_of(case.name)]
    assert msg["malformed"] == []
    if dialect in case.fields:
        assert msg["fields"] == case.fields[dialect]
    if dialect in case.msg_name:
        assert msg["msg_name"] == case.msg_name[dialect]
    if dialect in case.err_name:
        assert msg["err_name"] == case.err_name[dialect]
    shown = frames[frame_of(case.name) - 1]
    for line in case.tree.get(dialect, ()):
        _expect(shown, line)
    everything = " ".join(" ".join(v) for v in shown.values())
    for word in case.not_in_tree.get(dialect, ()):
        assert word not in everything
