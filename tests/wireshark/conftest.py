"""Fixtures of the Wireshark tests: tshark (skip when absent) and the generated dissector."""

from __future__ import annotations

from pathlib import Path

import pytest

from dissector.wireshark import generate_lua
from dissector.wireshark.tshark import find_tshark


@pytest.fixture(scope="session")
def tshark() -> str:
    exe = find_tshark()
    if exe is None:
        pytest.skip("tshark is not installed (.ci/run installs the Debian package)")
    return exe


@pytest.fixture(scope="session")
def lua_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lua") / "gunyah_rm.lua"
    path.write_text(generate_lua(), encoding="utf-8")
    return path
