"""Wireshark and tshark support: a Lua dissector generated from ``dissector.protocol``.

``generate_lua()`` returns the dissector, ``install()`` writes it to the personal Lua plugin
folder, and ``dissector.wireshark.tshark`` runs tshark with it and turns its JSON back into
``ghrm decode --format jsonl`` objects, so the two decoders can be compared message by message.
See ``dissector.wireshark.lua`` for how the layouts become Lua and how field names map.

Without the plugin's own DLT binding, Wireshark's DLT_USER table also hands our records to the
dissector (header size 4 is the capture header of design.md 1.1)::

    tshark -o 'uat:user_dlts:"User 0 (DLT=147)","gunyah_rm","4","","0",""' -r capture.pcap
"""

from __future__ import annotations

from .install import install, personal_plugin_dir
from .lua import LUA_FILE_NAME, PROTO, field_specs, generate_lua, write_lua

__all__ = [
    "LUA_FILE_NAME",
    "PROTO",
    "field_specs",
    "generate_lua",
    "install",
    "personal_plugin_dir",
    "write_lua",
]
