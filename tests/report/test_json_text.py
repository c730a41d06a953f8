"""json_text.dumps writes what json.dumps(finite(doc), indent=1) writes, byte for byte."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.report import json_text

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),  # NUL, quotes, non-ASCII included
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def tables(draw: st.DrawFn) -> list[dict]:
    keys = draw(st.lists(st.text(max_size=5), min_size=1, max_size=5, unique=True))
    column = draw(st.sampled_from([scalars, st.lists(scalars, max_size=4), values]))
    return [{k: draw(column) for k in keys} for _ in range(draw(st.integers(1, 5)))]


docs = st.dictionaries(
    st.text(max_size=6), st.one_of(values, tables(), st.just([]), st.just([{}])), max_size=5
)


def _standard(doc: object) -> str:
    return json.dumps(json_text.finite(doc), indent=1)


@settings(max_examples=400, deadline=None)
@given(docs)
def test_same_text_as_the_standard_encoder(doc: dict) -> None:
    assert json_text.dumps(doc) == _standard(doc)


def test_tables_of_records_with_nested_lists_and_non_finite_numbers() -> None:
    doc = {
        "title": "t",
        "summary": {"n": 1, "bad": math.nan, "f": {"error": 0}},
        "rows": [
            {
                "a": 1,
                "b": math.inf,
                "frames": [1, 2],
                "acl": [{"vmid": 3, "rights": "RW"}],
                "s": "\x00\u00e9",
            },
            {"a": None, "b": 0.1, "frames": [], "acl": [], "s": ""},
        ],
        "ragged": [{"a": 1}, {"b": 2}],  # not a table: the standard way
        "empty": [],
    }
    assert json_text.dumps(doc) == _standard(doc)
    assert json_text.dumps([1, {"x": math.nan}]) == _standard([1, {"x": math.nan}])
