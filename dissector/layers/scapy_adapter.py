"""Every place ghrm reaches below Scapy's public hooks, and why each one is needed.

The layers otherwise use Scapy as documented: ``guess_payload_class`` picks the next layer,
``pre_dissect`` / ``post_dissect`` measure and record malformations, ``extract_padding`` hands
an entry's left-over bytes back to its list, ``dispatch_hook`` picks a ``BySize`` case, and the
fields override ``getfield`` / ``i2m``. What those cannot express is here, so a Scapy upgrade
is checked in one file (the overrides rely on Scapy 2.6-2.8 internals named below):

1. ``add_payload_layer`` builds a payload layer with ``_internal=1, _underlayer=`` (what
   ``Packet.do_dissect_payload`` does) but lets ``MemoryError`` through and keeps the bytes of
   a layer that failed as ``Raw`` *with a malformation*: Scapy's own version turns any
   exception, out-of-memory included, into ``Raw`` silently.
2. ``GuardedPayload.do_dissect_payload`` routes every payload through (1).
3. ``FixedHeader.do_dissect`` / ``undecoded``: input shorter than a fixed header leaves every
   field unknown (None), not Scapy's default value, and the raw-packet cache says "nothing was
   read" (``raw_packet_cache``, ``raw_packet_cache_fields``, ``explicit``), so the layer
   rebuilds to the bytes it was given instead of inventing a header.
4. ``LenientFields.do_dissect`` is ``Packet.do_dissect`` field by field: a field that does not
   fit records a malformation and stops the layer instead of raising or silently ending a list
   (it reads ``ConditionalField._evalcond`` / ``.fld`` to handle ``Optional`` groups).
5. ``LenientFields.init_fields``: Scapy pre-fills list fields with ``[]``; an ``Optional``
   group built only when given must start out absent.
6. ``LenientFields._raw_packet_cache_field_value``: Scapy deep-copies every list entry to
   notice later edits; a lazy ``EntryList`` reports edits itself (no copy per entry).
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from scapy.packet import Packet, Raw

from .entries import EntryList


def add_payload_layer(layer: Packet, cls: type[Packet], s: bytes) -> None:
    """``layer.add_payload(cls(s))``; a dissector bug keeps the bytes as Raw and says so (1)."""
    try:
        p = cls(s, _internal=1, _underlayer=layer)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a dissector bug must not lose the bytes
        layer.note("value", f"{cls.__name__} could not be dissected ({exc!r}); kept as raw bytes")
        p = Raw(s, _internal=1, _underlayer=layer)
    layer.add_payload(p)


class GuardedPayload(Packet):
    """A layer whose payload is dissected through ``add_payload_layer`` (2)."""

    def do_dissect_payload(self, s: bytes) -> None:
        if s:
            add_payload_layer(self, self.guess_payload_class(s), s)


def undecoded(pkt: Packet, s: bytes, *, explicit: bool = True) -> bytes:
    """``do_dissect`` of a layer whose fixed header is not all there: every field None (3)."""
    for f in pkt.fields_desc:
        pkt.fields[f.name] = None
    pkt.raw_packet_cache = b""
    pkt.raw_packet_cache_fields = {}
    if explicit:
        pkt.explicit = 1
    return s


class FixedHeader(GuardedPayload):
    """A header of ``header_size`` bytes that may arrive cut short (3); payload as in (2)."""

    header_size: ClassVar[int] = 0
    explicit_when_short: ClassVar[bool] = True

    def do_dissect(self, s: bytes) -> bytes:
        if len(s) >= self.header_size:
            return super().do_dissect(s)
        return undecoded(self, s, explicit=self.explicit_when_short)


class LenientFields(Packet):
    """Field-by-field dissection that records what does not fit (4, 5, 6).

    The layer provides ``note(kind, text)`` and the two ``Optional`` group tables.
    """

    # field name -> names of all fields of the Optional group it belongs to
    optional_groups: ClassVar[dict[str, tuple[str, ...]]] = {}
    # fields of the groups built only when given (Optional emit="given"): absent until set
    given_groups: ClassVar[frozenset[str]] = frozenset()

    def init_fields(self, for_dissect_only: bool = False) -> None:
        super().init_fields(for_dissect_only)
        for name in self.given_groups:
            self.fields.pop(name, None)

    def _raw_packet_cache_field_value(self, fld: Any, val: Any, copy: bool = False) -> Any:
        if isinstance(val, EntryList):
            return ("entries", val.modified())
        return super()._raw_packet_cache_field_value(fld, val, copy)

    def do_dissect(self, s: bytes) -> bytes:
        raw = s
        self.raw_packet_cache_fields = {}
        problems = self._problems()
        absent: set[str] = set()
        stop = False
        for f in self.fields_desc:
            if stop:
                self.fields[f.name] = None
                continue
            group = self.optional_groups.get(f.name)
            fld = f
            if group is not None:
                if group[0] in absent:
                    continue
                if f.name == group[0] and not s:
                    absent.add(group[0])
                    continue
                fld = f.fld if f.isconditional else f  # type: ignore[union-attr]
            elif f.isconditional:
                if not f._evalcond(self):  # type: ignore[union-attr]
                    continue
                fld = f.fld  # type: ignore[union-attr]
            before = len(problems)
            try:
                s, fval = fld.getfield(self, s)
            except (struct.error, IndexError, ValueError, TypeError) as exc:
                need = getattr(fld, "sz", None)
                detail = f"needs {need} byte(s)" if need else f"cannot be decoded ({exc})"
                self.note("truncated", f"field {f.name} {detail}, {len(s)} left")
                self.fields[f.name] = None
                stop = True
                continue
            if (f.islist or f.holds_packets or f.ismutable) and fval is not None:
                self.raw_packet_cache_fields[f.name] = self._raw_packet_cache_field_value(f, fval, copy=True)
            self.fields[f.name] = fval
            if len(problems) > before:
                stop = True
        self.raw_packet_cache = raw[: -len(s)] if s else raw
        self.explicit = 1
        return s
