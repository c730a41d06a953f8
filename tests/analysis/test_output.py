"""``write_machine``'s csv is byte for byte what pandas' ``to_csv`` wrote before it (issue 17).

The reference below is the old writer, kept here verbatim: object cells joined by spaces, floats
``%.9f``, then ``DataFrame.to_csv``. It is compared on random tables of every dtype the tables use
(quoting, NA, datetimes whose precision differs between pandas' formatting chunks) and on every
table of bundled traces.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import dissector
from dissector.analysis.output import PANDAS_CHUNK_CELLS, write_machine
from dissector.trace import TABLE_ATTRIBUTES


def reference_csv(df: pd.DataFrame) -> str:
    """The csv ``write_machine`` wrote through pandas before the columnar writer."""
    frame = df.copy(deep=False)
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = [" ".join(str(x) for x in v) if isinstance(v, tuple | list) else v for v in frame[c]]
        elif frame[c].dtype == np.float64:
            frame[c] = np.array(["" if v != v else f"{v:.9f}" for v in frame[c].to_numpy().tolist()], object)
    out = io.StringIO()
    frame.to_csv(out, index=False, float_format="%.9f", lineterminator="\n")
    return out.getvalue()


def written(df: pd.DataFrame) -> str:
    out = io.StringIO()
    write_machine(df, "csv", out)
    return out.getvalue()


def random_table(seed: int) -> pd.DataFrame:
    """Columns of every dtype the tables hold, with NA, quoting and datetimes of mixed precision."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 20_000))
    base = rng.integers(-(10**17), 2 * 10**18, n)
    unit = 10 ** rng.choice([0, 3, 6, 9], n)
    ns = base // unit * unit
    if seed % 3 == 0:  # mostly whole seconds: most of pandas' chunks show no fraction at all
        coarse = rng.random(n) < 0.9995
        ns[coarse] = ns[coarse] // 10**9 * 10**9
    time = pd.Series(pd.to_datetime(ns, unit="ns", utc=True))
    time[rng.random(n) < 0.05] = pd.NaT
    floats = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5, n)
    floats[rng.random(n) < 0.1] = np.nan
    again = floats.copy()  # mostly the same values (``t`` and ``request_time``), a few not
    changed = rng.random(n) < 0.01
    again[changed] = -floats[changed] * 0.0
    ints = pd.array(rng.integers(-(2**40), 2**40, n), dtype="Int64")
    ints[rng.random(n) < 0.2] = pd.NA
    objects = np.empty(n, object)
    objects[:] = [tuple(range(k)) if k % 3 else (None if k == 0 else f"s{k}") for k in rng.integers(0, 6, n)]
    df = pd.DataFrame(
        {
            "time": time,
            "float": floats,
            "int": ints,
            "category": pd.Categorical(rng.choice(["a", "b,c", 'q"x', "z\nw", None], n)),
            "frames": objects,
            "text": pd.array(rng.choice(["x", "y, z", None], n), dtype="str"),
            "flag": rng.random(n) < 0.5,
            "small": rng.integers(0, 9, n).astype(np.int32),
            "float32": floats.astype(np.float32),
            "float_again": again,
        }
    )
    columns = list(rng.permutation(list(df.columns)))[: int(rng.integers(2, 11))]
    return df[columns]


@pytest.mark.parametrize("seed", range(24))
def test_random_tables_as_pandas_wrote_them(seed: int) -> None:
    df = random_table(seed)
    assert written(df) == reference_csv(df)


def test_datetime_precision_follows_pandas_chunks() -> None:
    """pandas picks a datetime column's digits per chunk of ``PANDAS_CHUNK_CELLS`` cells."""
    block = PANDAS_CHUNK_CELLS // 2
    ns = np.arange(3 * block, dtype=np.int64) * 10**9
    ns[block + 7] += 123  # only the second chunk needs nanoseconds
    df = pd.DataFrame({"time": pd.to_datetime(ns, unit="ns", utc=True), "x": np.arange(len(ns))})
    text = written(df)
    assert text == reference_csv(df)
    lines = text.splitlines()
    assert lines[1].startswith("1970-01-01 00:00:00+00:00,") and ".000000000+00:00" in lines[block + 1]


def test_one_column_and_empty_tables() -> None:
    for df in (pd.DataFrame({"a": ["", None, "x"]}), pd.DataFrame({"a": [], "b": []}), pd.DataFrame()):
        assert written(df) == reference_csv(df)


@pytest.mark.parametrize(
    "trace", ["faults_mix.pcapng", "fleet_20vms.pcapng", "dmesg_hexlog.log", "malformed_truncated.pcapng"]
)
def test_every_table_of_bundled_traces(trace: str) -> None:
    t = dissector.open(f"traces/{trace}")
    for name in TABLE_ATTRIBUTES:
        df = getattr(t, name)
        assert written(df) == reference_csv(df), name


def test_a_cell_wider_than_the_padding_limit_is_written_as_pandas_did() -> None:
    """The findings of a refusal storm: one ``frames`` cell of hundreds of thousands of frames
    among thousands of short rows (a byte matrix would be padded to it row by row)."""
    n = 1000
    frames = [(i,) for i in range(n)]
    frames[7] = tuple(range(60_000))  # 350 kB: padded, 350 MB
    df = pd.DataFrame({"code": ["error_reply"] * n, "frames": frames, "count": np.arange(n)})
    assert written(df) == reference_csv(df)
