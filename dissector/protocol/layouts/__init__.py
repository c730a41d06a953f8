"""Every payload layout, keyed by the message's RM name (one module per message family).

A name here that ``dissector.protocol.messages`` does not know is an import-time error, so a
layout can never drift away from the id table.
"""

from __future__ import annotations

from dissector.protocol.layout import Layout

from . import config, firmware, ipa, irq, lifecycle, memory, minidump, misc, query, services

_FAMILIES = (lifecycle, query, config, memory, firmware, irq, services, minidump, ipa, misc)


def _collect() -> dict[str, Layout]:
    out: dict[str, Layout] = {}
    for module in _FAMILIES:
        for name, layout in module.LAYOUTS.items():
            if name in out:
                raise ValueError(f"layout for {name} declared twice ({module.__name__})")
            out[name] = layout
    return out


LAYOUTS: dict[str, Layout] = _collect()
