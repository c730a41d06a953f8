"""The fuzz targets in CI: crash regressions replayed, seeds passed, and a short bounded fuzz run.

* Every input under ``regressions/<target>/`` (crashes found on the way, now fixed) is fed to
  its target in-process, on every test run.
* Every target's seeds pass.
* With atheris installed: every target fuzzes for ``FUZZ_SECONDS`` (default 3) under libFuzzer
  with a per-input timeout and an RSS limit, all targets at once in subprocesses so the whole
  run stays within a few seconds of wall time; a failure shows the crash file and the trace.
  Without atheris (it has wheels for Linux x86-64 only) that test is skipped with the reason,
  and the hypothesis byte fuzzer runs each target for a moment instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _harness  # noqa: E402 - by file name, as the fuzz scripts run alone import it

FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "3"))
TARGETS = _harness.TARGETS


def _target(name: str) -> ModuleType:
    return _harness.load_target(name)


def test_every_target_has_a_script() -> None:
    scripts = sorted(p.stem.removeprefix("fuzz_") for p in HERE.glob("fuzz_*.py"))
    assert scripts == sorted(TARGETS)
    assert set(p.name for p in _harness.REGRESSIONS.iterdir()) <= set(TARGETS)


REGRESSION_CASES = [(name, path) for name in TARGETS for path in _harness.regression_inputs(name)]


@pytest.mark.parametrize(
    ("name", "path"), REGRESSION_CASES, ids=[f"{n}/{p.name}" for n, p in REGRESSION_CASES]
)
def test_regression_input(name: str, path: Path) -> None:
    _target(name).test_one_input(path.read_bytes())


@pytest.mark.parametrize("name", TARGETS)
def test_seeds_pass(name: str) -> None:
    module = _target(name)
    seeds = module.seeds()
    assert seeds, f"{name} has no seeds"
    for data in seeds:
        module.test_one_input(data)


@pytest.mark.parametrize("name", TARGETS)
def test_hypothesis_fuzzer_runs(name: str, tmp_path: Path) -> None:
    """The fallback engine works (and fuzzes a little) whether or not atheris is installed."""
    module = _target(name)
    flags = {"runs": "40", "artifact_prefix": f"{tmp_path}/"}
    assert _harness._hypothesis_fuzz(module.test_one_input, module.seeds(), flags, []) == 0


@pytest.fixture(scope="module")
def atheris_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, Path]]:
    """Run every target under libFuzzer at once; name -> (exit status, output, artifact dir)."""
    if _harness.atheris is None:
        pytest.skip(
            "atheris is not installed (no wheel for this platform); the hypothesis fuzzer ran instead"
        )
    procs = {}
    for name in TARGETS:
        work = tmp_path_factory.mktemp(f"fuzz_{name}")
        (work / "corpus").mkdir()
        cmd = [
            sys.executable,
            str(HERE / f"fuzz_{name}.py"),
            f"-max_total_time={FUZZ_SECONDS}",
            "-timeout=10",
            "-rss_limit_mb=1024",
            "-max_len=8192",
            "-print_final_stats=1",
            f"-artifact_prefix={work}/",
            str(work / "corpus"),
        ]
        procs[name] = (
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            work,
        )
    results = {}
    for name, (proc, work) in procs.items():
        out, _ = proc.communicate(timeout=FUZZ_SECONDS + 120)
        results[name] = (proc.returncode, out, work)
    return results


@pytest.mark.parametrize("name", TARGETS)
def test_bounded_atheris_run_finds_nothing(name: str, atheris_runs: dict[str, tuple[int, str, Path]]) -> None:
    code, out, work = atheris_runs[name]
    crashes = sorted(p.name for p in work.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    tail = "\n".join(out.splitlines()[-40:])
    assert code == 0 and not crashes, (
        f"fuzz_{name} failed (exit {code}); keep {crashes} under tests/fuzz/regressions/{name}/ "
        f"once fixed\n{tail}"
    )
    assert "Done" in out and "stat::number_of_executed_units" in out, tail
