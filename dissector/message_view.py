"""A decoded message in a notebook: its field tree beside its hex dump, as Wireshark shows it.

Why a module of its own: ``DecodedMessage._repr_html_`` needs only this, and the table views in
``dissector.display`` read the table registry, which sits above the decoded messages.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pandas as pd
from scapy.fields import PacketListField
from scapy.packet import NoPayload, Packet

from dissector.formatting import _CSS, LIST_OPEN, LIST_SHOWN, NA, hex_id, ranges, timestamp

if TYPE_CHECKING:
    from dissector.decoded import DecodedMessage


# --- a message --------------------------------------------------------------------------------
def _layers(packet: Packet) -> Iterator[Packet]:
    layer: Packet | NoPayload = packet
    while isinstance(layer, Packet) and not isinstance(layer, NoPayload):
        yield layer
        layer = layer.payload


def _tree(layers: Iterable[Packet], *, summary: bool = True) -> str:
    """Nested ``<details>``: one per layer, open, its fields as ``name: value`` lines
    (``summary=False``: the fields only, for a list element that has its own line)."""
    parts = []
    for layer in layers:
        items = []
        for f in layer.fields_desc:
            if f.name not in layer.fields:
                continue
            value = layer.getfieldval(f.name)
            if f.name.startswith("_") and not value:
                continue  # reserved and zero: Wireshark hides it too
            if isinstance(f, PacketListField):
                entries = list(value or [])
                opened = len(entries) <= LIST_OPEN
                inner = "".join(_entry(p, i, open_=opened) for i, p in enumerate(entries[:LIST_SHOWN]))
                if len(entries) > LIST_SHOWN:
                    inner += (
                        f"<div>\u2026 and {len(entries) - LIST_SHOWN} more (msg.fields has them all)</div>"
                    )
                items.append(f"<li><b>{html.escape(f.name)}</b> [{len(entries)}]{inner}</li>")
                continue
            shown = "?" if value is None else f.i2repr(layer, value)
            items.append(f"<li>{html.escape(f.name)}: <code>{html.escape(str(shown))}</code></li>")
        body = f'<ul style="margin: 0; padding-left: 18px; list-style: none">{"".join(items)}</ul>'
        if summary:
            body = f'<details open="open"><summary>{html.escape(str(layer.name))}</summary>{body}</details>'
        parts.append(body)
    return "".join(parts)


def _entry(packet: Packet, index: int, *, open_: bool) -> str:
    """One element of a list field: its fields on the summary line, the tree inside."""
    simple = [
        f"{f.name}={f.i2repr(packet, packet.getfieldval(f.name))}"
        for f in packet.fields_desc
        if f.name in packet.fields and not f.name.startswith("_") and not isinstance(f, PacketListField)
    ]
    line = f"{packet.name} #{index}: " + ", ".join(simple)
    line = line if len(line) <= 100 else line[:99] + "\u2026"
    opened = ' open="open"' if open_ else ""
    fields = _tree(_layers(packet), summary=False)
    return f"<details{opened}><summary>{html.escape(line)}</summary>{fields}</details>"


def hexdump_html(data: bytes, header: int = 8, limit: int = 1024) -> str:
    """Offset, hex and ASCII, 16 bytes a line, the first ``limit`` bytes; the RPC header shaded."""
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off : off + 16]
        cells = []
        for i, b in enumerate(chunk):
            shade = ' style="background: #ddf4ff"' if off + i < header else ""
            cells.append(f"<span{shade}>{b:02x}</span>" + ("  " if i == 7 else " "))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        pad = "   " * (16 - len(chunk)) + (" " if len(chunk) <= 8 else "")
        lines.append(
            f"<span style='color: #57606a'>{off:04x}</span>  {''.join(cells)}{pad} {html.escape(text)}"
        )
    if len(data) > limit:
        lines.append(f"\u2026 and {len(data) - limit} more bytes (msg.raw.data has them all)")
    return "<pre style='margin: 0; font-size: 12px'>" + "\n".join(lines) + "</pre>"


def message_html(msg: DecodedMessage) -> str:
    """Wireshark's packet view of one message: the field tree beside its bytes."""
    raw = msg.raw
    when = NA if raw.time_ns is None else timestamp(pd.Timestamp(raw.time_ns, unit="ns", tz="UTC"))
    client = "unknown" if raw.client_vmid == 0xFFFF else hex_id(raw.client_vmid)
    head = (
        f"Frame {raw.frames[0]}"
        + (f" (records {ranges(raw.frames)})" if len(raw.frames) > 1 else "")
        + f", {len(raw.data)} bytes, {raw.direction.label}, client {client}, {when}"
        + ("" if msg.t is None else f" (t = {msg.t:.6f} s since the capture start)")
    )
    problems = "".join(
        f"<div style='color: #842029'>[Malformed: {html.escape(str(p))}]</div>" for p in msg.problems
    )
    return (
        f'<div style="{_CSS}"><div style="font-weight: 700">{html.escape(msg.summary())}</div>'
        f"<div style='color: #57606a; margin-bottom: 6px'>{html.escape(head)}</div>{problems}"
        '<div style="display: flex; gap: 24px; align-items: flex-start; max-height: 640px; overflow: auto">'
        f'<div style="flex: 1; min-width: 320px">{_tree(_layers(msg.packet))}</div>'
        f'<div style="flex: 0 0 auto">{hexdump_html(raw.data)}</div></div></div>'
    )
