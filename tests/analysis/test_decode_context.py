"""``ghrm decode``'s generated fields from the message columns with numpy alone
(``context.exchange_fields``) are the messages table's ``vm``, ``request_frame``,
``reply_frame``, ``latency`` and ``errno`` (rule 1 of ``vm`` included), on every bundled trace in
every dialect and on simulated captures with every fault kind; and ``ghrm decode --format jsonl``
of a file imports neither pandas nor pyarrow (nor Scapy when no message is malformed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dissector.analysis.context import GENERATED, exchange_fields
from dissector.analysis.decode_context import _by_frame
from dissector.analysis.tables import messages_table
from dissector.decoders.lines import read_capture
from dissector.protocol.dialects import DIALECTS
from dissector.sim import simulate
from tests.analysis.ledgers.test_events_messages import BUNDLED, FAULTS

ROOT = Path(__file__).resolve().parents[2]


def _table_values(table: pd.DataFrame) -> dict[str, list]:
    """The generated columns of the messages table as JSON values (None for NA)."""
    return {
        name: [None if v is None or v is pd.NA or v != v else v for v in table[name].astype(object).tolist()]
        for name in GENERATED
    }


def _assert_same(path: Path, dialect: str) -> int:
    capture = read_capture(str(path), dialect)
    assert capture is not None
    table, _ = messages_table([capture.cols], dialect)
    want = _table_values(table)
    got = _by_frame(capture.cols.frame, exchange_fields(capture.cols, dialect))
    assert list(got) == table["frame"].tolist()
    for name in GENERATED:
        assert [g[name] for g in got.values()] == want[name], f"{path.name} {dialect}: {name}"
    return sum(v is not None for v in want["vm"])


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_traces(path: Path, dialect: str) -> None:
    _assert_same(path, dialect)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_faults(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "faults.pcapng"
    simulate(vms=5, seed=seed, duration=4.0, faults=FAULTS, output=str(path), truth=False)
    assert _assert_same(path, "rm") > 0


def test_rule_1_is_applied() -> None:
    """The memory/IRQ calls' ``vm`` is the lent-to VM (rule 1), not the caller (rule 4)."""
    capture = read_capture(str(ROOT / "traces" / "reclaim_storm.pcapng"), "rm")
    assert capture is not None
    table, _ = messages_table([capture.cols], "rm")
    vm = exchange_fields(capture.cols, "rm").vm
    mem = table["name"].astype(str).str.startswith("MEM_").to_numpy()
    assert (vm[mem] != capture.cols.client_vmid[mem]).any()
    assert np.array_equal(vm, table["vm"].to_numpy(np.int64, na_value=-1))


PROBE = """
import io, json, sys
from dissector.cli import main
out = io.StringIO()
main(["decode", "--format", "jsonl", {path!r}], out, io.StringIO())
assert out.getvalue().count("\\n") > 10
print(json.dumps(sorted(m for m in ("pandas", "pyarrow", "scapy", "dissector.layers") if m in sys.modules)))
"""


def _loaded(path: Path) -> list[str]:
    code = PROBE.format(path=str(path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


def test_jsonl_of_a_file_imports_no_pandas_nor_scapy() -> None:
    assert _loaded(ROOT / "traces" / "fleet_20vms.pcapng") == []


def test_jsonl_imports_scapy_only_for_a_malformed_message() -> None:
    assert _loaded(ROOT / "traces" / "malformed_bad_api.pcapng") == ["dissector.layers", "scapy"]


@pytest.mark.parametrize("dialect", ["rm", "linux-v16", "qcom"])
def test_a_create_s_acl_read_alone_is_the_whole_decode_s(tmp_path: Path, dialect: str) -> None:
    """Rule 1 reads a well-formed create's fields up to its ACL (``context._acl_codec``): the
    same ACL as the whole payload's decode, on every create of the bundled traces and a
    simulated capture with faults."""
    from dissector.analysis.context import _acl_codec, payload_reader
    from dissector.decoded import DecodedMessage
    from dissector.protocol.codec import CodecError, codec_for

    path = tmp_path / "faults.pcapng"
    simulate(vms=5, seed=4, duration=4.0, faults=FAULTS, output=str(path), truth=False)
    seen = 0
    for capture_path in [*BUNDLED, path]:
        capture = read_capture(str(capture_path), dialect)
        assert capture is not None
        cols = capture.cols
        payload = payload_reader([cols], dialect)
        for i in np.flatnonzero(cols.msg_type == 1).tolist():
            if _acl_codec(int(cols.msg_id[i]), dialect) is None:
                continue
            data = cols.message_bytes(i)  # type: ignore[misc]
            try:
                whole = codec_for(int(cols.msg_id[i]), "request", dialect).decode(data[8:])
            except (CodecError, KeyError, ValueError, IndexError):
                whole = DecodedMessage(cols.raw_message(i), dialect).fields  # type: ignore[misc]
            got = payload(i, "request")
            assert got.get("acl") == whole.get("acl"), f"{capture_path.name} row {i}"
            seen += cols.malformed[i] is None
    assert seen > 100
