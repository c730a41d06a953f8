"""Shared plumbing of the fuzz targets: atheris (libFuzzer) when installed, else hypothesis.

Every ``fuzz_*.py`` beside this file is one entry point of ghrm. It defines
``test_one_input(data: bytes) -> None``, which feeds the bytes to that entry point and checks
the promises of issue #7 (no exception but our own error types, every byte accounted for,
bounded output); ``seeds() -> list[bytes]``, valid and broken inputs to start from; optionally
``DICTIONARY``, tokens libFuzzer splices in (log markers, magic numbers). Run one as a script::

    python tests/fuzz/fuzz_pcap.py -atheris_runs=100000
    python tests/fuzz/fuzz_pcap.py -max_total_time=60 [CORPUS_DIR ...]

The seeds are written to a fresh temporary directory that is read after any directory given
(libFuzzer adds the inputs it finds to the first one; pass your own to keep them). A failing input is
written as ``crash-<sha1>`` (``-artifact_prefix=DIR/`` chooses where); copy it into
``tests/fuzz/regressions/<target>/`` and ``test_fuzz.py`` replays it on every test run.

When atheris is not installed (it ships wheels for Linux x86-64 only), the same command line
runs a hypothesis-based byte fuzzer instead: random and mutated-seed inputs, shrunk on failure,
bounded by ``-atheris_runs``/``-runs`` and ``-max_total_time``. It finds less, but it keeps the
targets running everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = ROOT / "tests" / "robustness" / "corpus"
REGRESSIONS = HERE / "regressions"
TARGETS = (
    "dissect", "reassembly", "pcap", "pcapng", "hexlog", "text2pcap", "open_records", "filter", "textlog",
)  # fmt: skip

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ``tests.*`` helpers, and ``dissector`` without installing

try:
    import atheris
except ImportError:  # no wheel for this platform: the hypothesis fuzzer stands in
    atheris = None

Target = Callable[[bytes], None]


def instrumented(module_name: str) -> AbstractContextManager[object]:
    """Instrument ``dissector`` for coverage while a target script imports it under atheris."""
    if atheris is None or module_name != "__main__":
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["dissector"])


def corpus_files(*suffixes: str) -> list[bytes]:
    """The robustness corpus files with one of ``suffixes`` (all files if none), as seeds."""
    if not CORPUS.is_dir():
        return []
    return [
        p.read_bytes()
        for p in sorted(CORPUS.iterdir())
        if p.is_file() and p.name != "expected.json" and (not suffixes or p.name.endswith(suffixes))
    ]


def load_target(name: str) -> ModuleType:
    """Import ``fuzz_<name>.py`` as a module (not as ``__main__``: no instrumentation)."""
    path = HERE / f"fuzz_{name}.py"
    spec = importlib.util.spec_from_file_location(f"ghrm_fuzz_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def regression_inputs(name: str) -> Iterator[Path]:
    """Crash inputs kept for target ``name``."""
    folder = REGRESSIONS / name
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


# --------------------------------------------------------------------------- command line
def _flags(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    dirs: list[str] = []
    for arg in argv[1:]:
        if arg.startswith("-") and "=" in arg:
            key, value = arg[1:].split("=", 1)
            flags[key] = value
        elif not arg.startswith("-"):
            dirs.append(arg)
    return flags, dirs


def _seed_dir(seeds: list[bytes]) -> str:
    folder = tempfile.mkdtemp(prefix="ghrm-fuzz-")
    for data in seeds:
        name = hashlib.sha1(data).hexdigest()
        Path(folder, name).write_bytes(data)
    return folder


def run(target: Target, seeds: Callable[[], list[bytes]], dictionary: tuple[bytes, ...] = ()) -> None:
    """The ``__main__`` of a target script: fuzz ``target`` with atheris, or hypothesis."""
    argv = list(sys.argv)
    flags, dirs = _flags(argv)
    if atheris is None:
        sys.exit(_hypothesis_fuzz(target, seeds(), flags, dirs))
    argv.append(_seed_dir(seeds()))  # read after any directory given (new inputs go to the first)
    if dictionary and "dict" not in flags:
        fd, path = tempfile.mkstemp(prefix="ghrm-fuzz-", suffix=".dict")
        with os.fdopen(fd, "w") as f:
            for token in dictionary:
                f.write('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n')
        argv.append(f"-dict={path}")
    atheris.Setup(argv, target)
    atheris.Fuzz()


# --------------------------------------------------------------------------- fallback
def _mutate(data: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    d = bytearray(data)
    for where, op, blob in edits:
        i = int(where * len(d))
        if op == 0:
            d[i : i + len(blob)] = blob
        elif op == 1:
            del d[i : i + len(blob)]
        else:
            d[i:i] = blob
    return bytes(d)


def _hypothesis_fuzz(target: Target, seeds: list[bytes], flags: dict[str, str], dirs: list[str]) -> int:
    """Fuzz with hypothesis in batches until the run count or time budget is spent."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    for folder in dirs:
        seeds += [p.read_bytes() for p in Path(folder).iterdir() if p.is_file()]
    runs = int(flags.get("atheris_runs", flags.get("runs", "0"))) or None
    seconds = float(flags.get("max_total_time", "0")) or None
    if runs is None and seconds is None:
        runs = 1000
    prefix = flags.get("artifact_prefix", "./")
    edits = st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 2), st.binary(min_size=1, max_size=16)),
        min_size=1,
        max_size=8,
    )
    inputs = st.binary(max_size=2048)
    if seeds:
        inputs = st.one_of(inputs, st.builds(_mutate, st.sampled_from(seeds), edits))
    failing: list[bytes] = []

    def checked(data: bytes) -> None:
        try:
            target(data)
        except Exception:
            failing.append(data)
            raise

    start = time.monotonic()
    done = 0
    while (runs is None or done < runs) and (seconds is None or time.monotonic() - start < seconds):
        batch = 100 if runs is None else min(100, runs - done)
        once = settings(
            max_examples=batch,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )(given(inputs)(checked))
        try:
            once()
        except Exception:
            crash = failing[-1]
            path = f"{prefix}crash-{hashlib.sha1(crash).hexdigest()}"
            Path(path).write_bytes(crash)
            print(f"== hypothesis fuzzer: failing input written to {path}", file=sys.stderr)
            raise
        done += batch
    print(f"== hypothesis fuzzer (atheris not installed): {done} inputs, no failure", file=sys.stderr)
    return 0
