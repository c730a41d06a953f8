"""A layout construct a backend does not handle fails loudly there, never silently.

Every backend of the layout language (Scapy layer generator, codec, columnar and compiled decoders,
Lua generator, reference doc, summary, the field locator, the layout's own walk) is given a
``Struct`` holding a construct none of them knows, and must raise ``TypeError``; ``BySize`` used
anywhere but as the only field of a payload is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dissector.analysis.fields import locate
from dissector.decoders import compiled
from dissector.decoders.columnar import ByteView, walk
from dissector.layers.build import entry_class, payload_class
from dissector.layers.summary import format_value
from dissector.protocol.codec import StructCodec
from dissector.protocol.layout import U8, U16, BySize, Optional, Struct, nested_structs
from dissector.protocol.reference import _struct_text
from dissector.wireshark.lua import _Generator

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mystery:
    """A construct added to the language but to no backend."""

    name: str = "mystery"


UNKNOWN = Struct("HasMystery", (U16("vmid"), Mystery()))  # type: ignore[arg-type]
CHOICE = BySize((Struct("Four", (U16("a"), U16("b"))), Struct("Two", (U16("a"),))))


def _scapy(struct: Struct) -> object:
    return payload_class(struct, "request", 0x56000099)


def _codec(struct: Struct) -> object:
    return StructCodec(struct)


def _fastpath(struct: Struct) -> object:
    data = bytes(8)
    return walk(struct, ByteView(data), np.zeros(1, np.int64), np.full(1, 8, np.int64))


def _lua(struct: Struct) -> object:
    return _Generator("rm").struct(struct, "gunyah_rm")


def _reference(struct: Struct) -> object:
    return _struct_text(struct)


def _compiled(struct: Struct) -> object:
    return compiled._Payload(struct, "rm")


def _walk_and_sizes(struct: Struct) -> object:  # the layout's own interpretation (filters use it)
    return [nested_structs(f) for f in struct.walk()], struct.fixed_size


def _locator(struct: Struct) -> object:
    return locate(struct, ("vmid",), 0x56000099, 1), locate(struct, ("mystery",), 0x56000099, 1)


def _summary(struct: Struct) -> object:
    return format_value(struct.fields[-1], 1)


BACKENDS = [_scapy, _codec, _fastpath, _lua, _reference, _compiled, _walk_and_sizes, _locator, _summary]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda f: f.__name__.strip("_"))
def test_an_unknown_construct_raises(backend) -> None:
    with pytest.raises(TypeError, match=r"(?i)unknown|does not know"):
        backend(UNKNOWN)


@pytest.mark.parametrize("backend", [_scapy, _codec], ids=["scapy", "codec"])
def test_by_size_must_be_the_only_field(backend) -> None:
    with pytest.raises(TypeError, match="only field"):
        backend(Struct("Mixed", (U8("x"), CHOICE)))


def test_by_size_is_a_whole_payload_not_an_entry() -> None:
    with pytest.raises(TypeError, match="whole payload"):
        entry_class(Struct("Entry", (CHOICE,)))


def test_by_size_beside_other_fields_or_in_a_group_is_refused() -> None:
    for misplaced in (Struct("Mixed", (U8("x"), CHOICE)), Struct("Grouped", (Optional((CHOICE,)),))):
        with pytest.raises(TypeError, match="only field of its Struct"):
            misplaced.by_size  # noqa: B018 (the property is the check)


def test_by_size_cases_must_have_distinct_fixed_sizes() -> None:
    with pytest.raises(TypeError, match="distinct sizes"):
        BySize((Struct("A", (U16("a"),)), Struct("B", (U16("b"),))))


def test_every_backend_reads_by_size_the_same_way() -> None:
    """The codec, Scapy and the fast path pick the same case for each length."""
    from dissector.protocol.codec import codec_for_struct

    struct = Struct("Choice", (CHOICE,))
    cls = payload_class(struct, "notification", 0x56100099)
    for data, want in ((b"\x01\x00\x02\x00", {"a": 1, "b": 2}), (b"\x07\x00", {"a": 7})):
        assert codec_for_struct(struct).decode(data) == want
        layer = cls(data)
        assert {k: v for k, v in layer.fields.items()} == want
        fits = walk(struct, ByteView(data), np.zeros(1, np.int64), np.full(1, len(data), np.int64))
        assert fits is not None and bool(fits[0])


def test_the_type_checker_names_a_backend_missing_a_construct(tmp_path) -> None:
    """``unknown_construct`` takes ``Never``: a ``match`` that forgets a construct is a type error."""
    mypy = pytest.importorskip("mypy.api")
    source = (ROOT / "dissector" / "protocol" / "reference.py").read_text()
    forgotten = """        case When():
            return f"[if {f.field} in {list(f.values)}: {_items_text(f.fields)}]"
"""
    assert forgotten in source
    module = tmp_path / "reference_without_when.py"
    module.write_text(source.replace(forgotten, ""))
    layout = ROOT / "dissector" / "protocol" / "layout.py"  # checked with it; other imports skipped
    out, _, status = mypy.run(["--follow-imports=skip", "--no-incremental", str(module), str(layout)])
    assert status == 1
    assert 'Argument 1 to "unknown_construct" has incompatible type "When"; expected "Never"' in out
