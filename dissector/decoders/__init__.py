"""Three views of the same payload layouts (``dissector.protocol.layouts``), tested equal.

* ``columnar`` decodes a whole capture at once with numpy into ``analysis.columns.MessageColumns``
  (the analysis tables are built from these columns);
* ``dissector.layers`` (the third view, kept where it is) is the Scapy packet tree: ``-V``, the
  malformation texts, anything that needs a full packet.

Each reads the layout language through ``dissector.protocol.layout`` only.
"""
