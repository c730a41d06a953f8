"""Traces shared by the report tests (opened once per session: the tables are cached in them)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dissector

TRACES = Path(__file__).resolve().parents[2] / "traces"


@pytest.fixture(scope="session")
def faults_mix():
    return dissector.open(TRACES / "faults_mix.pcapng")


@pytest.fixture(scope="session")
def slow_rm():
    return dissector.open(TRACES / "slow_rm.pcapng")


@pytest.fixture(scope="session")
def trace_of():
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = dissector.open(TRACES / name)
        return cache[name]

    return get
