"""Three views of the same payload layouts (``dissector.protocol.layouts``), tested equal.

* ``compiled`` decodes one message at a time into plain dicts, exactly as the Scapy view shows
  it (``ghrm decode`` text and jsonl); a malformed message is handed to the Scapy view, which
  words the malformation;
* ``columnar`` decodes a whole capture at once with numpy into ``analysis.columns.MessageColumns``
  (the analysis tables are built from these columns);
* ``dissector.layers`` (the third view, kept where it is) is the Scapy packet tree: ``-V``, the
  malformation texts, anything that needs a full packet.

Each reads the layout language through ``dissector.protocol.layout`` (``Layout.role``,
``fixed_size``, ``reserved_names`` ...) and ``registry.layout``; ``tests/decoders`` checks that
all three agree on every bundled trace, and compiled == Scapy on every layout of every dialect.
"""
