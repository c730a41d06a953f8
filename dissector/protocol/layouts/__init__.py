"""Every payload layout, keyed by the message's RM name (one module per message family).

Each family module declares ``LAYOUTS: dict[str, Layout]`` in the struct language of
``dissector.protocol.layout``. Collecting them here checks two things at import time: a name is
declared once, and it is a name (or alias) of ``dissector.protocol.messages``, so a layout can
never drift away from the id table. Ids are resolved (``registry.layouts_by_id``) on first use;
a dialect may replace a layout (``dialects.py``), and ``registry.layout`` applies that.
"""

from __future__ import annotations

from dissector.protocol.layout import Layout
from dissector.protocol.messages import MESSAGES

from . import config, firmware, ipa, irq, lifecycle, memory, minidump, misc, query, services

_FAMILIES = (lifecycle, query, config, memory, firmware, irq, services, minidump, ipa, misc)


def _collect() -> dict[str, Layout]:
    known = {name.upper() for m in MESSAGES for name in (m.name, *m.aliases)}
    out: dict[str, Layout] = {}
    for module in _FAMILIES:
        for name, layout in module.LAYOUTS.items():
            if name in out:
                raise ValueError(f"layout for {name} declared twice ({module.__name__})")
            if name.upper() not in known:
                raise ValueError(f"layout for {name} ({module.__name__}): no message has that name")
            out[name] = layout
    return out


LAYOUTS: dict[str, Layout] = _collect()
