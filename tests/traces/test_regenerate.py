"""Every bundled trace, its truth log and the README regenerate byte for byte from their seeds.

This is what makes the traces trustworthy test data: they are not hand-edited files but the
output of ``traces/make_traces.py``, and a change to the simulator that alters them must come
with regenerated traces (``python traces/make_traces.py``).
"""

from __future__ import annotations

import os

import pytest

from tests.sim.decoding import TRACES, make_traces_module

MT = make_traces_module()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = str(tmp_path_factory.mktemp("traces"))
    MT.write_all(out)
    return out


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", [spec.name for spec in MT.TRACES])
def test_trace_and_truth_regenerate_identically(regenerated, name):
    assert _read(os.path.join(regenerated, name)) == _read(os.path.join(TRACES, name))
    truth = name + ".truth.json"
    assert _read(os.path.join(regenerated, truth)) == _read(os.path.join(TRACES, truth))


def test_readme_regenerates_identically(regenerated):
    assert _read(os.path.join(regenerated, "README.md")) == _read(os.path.join(TRACES, "README.md"))


def test_every_bundled_file_is_accounted_for():
    made = {spec.name for spec in MT.TRACES} | {spec.name + ".truth.json" for spec in MT.TRACES}
    present = set(os.listdir(TRACES)) - {"README.md", "make_traces.py", "__pycache__"}
    assert present == made
