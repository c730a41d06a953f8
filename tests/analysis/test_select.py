"""``select.suggest``: the text of ``MissingData`` names what the trace does hold, VMIDs in hex."""

from __future__ import annotations

from dissector.analysis.select import suggest


def test_vmids_are_hex_with_or_without_known_ones():
    assert suggest(0x99, [0x80, 0x82], "VMID") == "no VMID 0x99 in this trace; known: 0x80, 0x82"
    assert suggest(0x99, [], "VMID") == "no VMID 0x99: this trace holds none"  # was decimal: 153


def test_other_words_keep_their_form():
    assert suggest(3, [], "instance", hexadecimal=False) == "no instance 3: this trace holds none"
    text = suggest("memparcel", ["memparcels", "irqs"], "table")
    assert text == "no table 'memparcel' in this trace; known: memparcels, irqs; closest: memparcels"
