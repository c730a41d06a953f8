"""docs/messages.md is generated from the protocol tables and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from dissector.protocol import registry
from dissector.protocol.reference import reference_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "messages.md"


def test_committed_reference_matches_the_tables():
    assert DOC.read_text() == reference_markdown(), "regenerate with: ghrm protocol > docs/messages.md"


def test_reference_lists_every_message_once():
    text = reference_markdown()
    for msg in registry.messages():
        assert text.count(f"| `{msg.msg_id:#010x}` | {msg.name} |") == 1
