"""Scapy is used through its public hooks; what reaches below them lives in one module.

``dissector/layers/scapy_adapter.py`` documents each override of a Scapy internal and why it
exists (issue 14.5). This test keeps new ones from appearing elsewhere in the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from dissector.layers import dissect, dissect_record, malformations
from dissector.layers.scapy_adapter import FixedHeader, GuardedPayload, LenientFields

PACKAGE = Path(__file__).resolve().parents[2] / "dissector"
ADAPTER = PACKAGE / "layers" / "scapy_adapter.py"
# Packet methods and attributes that are not public hooks (dissect/build internals)
INTERNAL_METHODS = {
    "do_dissect",
    "do_dissect_payload",
    "init_fields",
    "_raw_packet_cache_field_value",
    "do_build",
    "self_build",
    "do_build_payload",
    "build_done",
    "clone_with",
}
INTERNAL_ATTRIBUTES = {"raw_packet_cache", "raw_packet_cache_fields", "explicit"}
INTERNAL_KEYWORDS = {"_internal", "_underlayer"}


def _internals(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef) and node.name in INTERNAL_METHODS:
            found.append(f"{path.name}:{node.lineno} overrides {node.name}")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr in INTERNAL_ATTRIBUTES:
                    found.append(f"{path.name}:{node.lineno} sets {t.attr}")
        elif isinstance(node, ast.keyword) and node.arg in INTERNAL_KEYWORDS:
            found.append(f"{path.name}: passes {node.arg}=")
    return found


def test_scapy_internals_are_overridden_only_in_the_adapter():
    outside = [hit for p in sorted(PACKAGE.rglob("*.py")) if p != ADAPTER for hit in _internals(p)]
    assert not outside, "move these into dissector/layers/scapy_adapter.py (with the why):\n" + "\n".join(
        outside
    )
    assert _internals(ADAPTER), "the adapter is where the overrides are; an empty scan means the test broke"


def test_every_override_in_the_adapter_is_documented():
    doc = ast.get_docstring(ast.parse(ADAPTER.read_text())) or ""
    for cls in (GuardedPayload, FixedHeader, LenientFields):
        for name, member in vars(cls).items():
            if name in INTERNAL_METHODS and callable(member):
                assert f"{cls.__name__}.{name}" in doc or name in doc, (
                    f"{cls.__name__}.{name} is not explained"
                )


def test_short_headers_keep_their_bytes_and_say_why():
    pkt = dissect(b"\x21\x01\x00")
    assert pkt.msg_type is None and bytes(pkt) == b"\x21\x01\x00"
    assert "shorter than the 8-byte RPC header" in str(malformations(pkt)[0])
    rec = dissect_record(b"\x01\x02")
    assert rec.client_vmid is None and bytes(rec) == b"\x01\x02"
    reply = dissect(bytes.fromhex("21 02 05 00 04 00 00 56") + b"\x07")
    assert [m.kind for m in malformations(reply)] == ["truncated"]
