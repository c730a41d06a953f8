"""``dissector.forked``: work beside the caller in a forked child, the same result either way.

The pytest process has native threads (numpy's OpenBLAS pool), so it never forks: each check
runs a small script in a fresh interpreter with ``forked.THREAD_ENV`` set, as ``ghrm`` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dissector import forked

ROOT = Path(__file__).resolve().parents[1]
TRACES = sorted(p for p in (ROOT / "traces").iterdir() if p.suffix in {".pcap", ".pcapng", ".log"})


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GHRM_JOBS"}
    env.update(forked.THREAD_ENV)
    env.update(extra)
    return env


def _script(code: str, **extra: str) -> dict:
    """Run ``code`` (which prints one JSON object last) in a fresh single-threaded interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=_env(**extra)
    )
    return json.loads(done.stdout.splitlines()[-1])


PRELUDE = """
import json, os, _thread, time
from dissector import forked
parent = os.getpid()
"""


def test_a_child_does_the_work_and_its_result_comes_back() -> None:
    got = _script(
        PRELUDE
        + """
b = forked.Beside(lambda: {"pid": os.getpid(), "big": list(range(100_000))})
r = b.result()
print(json.dumps({"forked": r["pid"] != parent, "n": len(r["big"]), "last": r["big"][-1]}))
"""
    )
    assert got == {"forked": True, "n": 100_000, "last": 99_999}


def test_a_failing_child_is_redone_here() -> None:
    """An exception or a hard exit in the child: the caller runs the work itself."""
    got = _script(
        PRELUDE
        + """
def raises():
    if os.getpid() != parent:
        raise RuntimeError("only in the child")
    return os.getpid()
def dies():
    if os.getpid() != parent:
        os._exit(3)
    return os.getpid()
a, b = forked.Beside(raises), forked.Beside(dies)
print(json.dumps({"forked": [a.forked, b.forked], "here": [a.result() == parent, b.result() == parent]}))
"""
    )
    assert got == {"forked": [True, True], "here": [True, True]}


def test_an_error_of_the_work_is_the_callers_own() -> None:
    got = _script(
        PRELUDE
        + """
b = forked.Beside(lambda: 1 // 0)
try:
    b.result()
    print(json.dumps({"raised": None}))
except ZeroDivisionError as exc:
    print(json.dumps({"raised": type(exc).__name__, "forked_first": True}))
"""
    )
    assert got == {"raised": "ZeroDivisionError", "forked_first": True}


def test_no_child_with_a_native_thread_or_when_refused() -> None:
    """A thread the threading module does not know (as a native library starts) forbids forking;
    the progress bar's Python threads do not; ``GHRM_JOBS=1`` refuses."""
    got = _script(
        PRELUDE
        + """
import threading
timer = threading.Timer(30, print); timer.start()
with_python_thread = forked.can_fork()
timer.cancel(); timer.join()
_thread.start_new_thread(time.sleep, (30,))
time.sleep(0.05)
b = forked.Beside(os.getpid)
print(json.dumps({"python": with_python_thread, "native": forked.can_fork(), "forked": b.forked,
                  "result_here": b.result() == parent}))
"""
    )
    assert got == {"python": True, "native": False, "forked": False, "result_here": True}
    refused = _script(PRELUDE + "print(json.dumps({'can': forked.can_fork()}))", GHRM_JOBS="1")
    assert refused == {"can": False}


def test_numpy_and_pandas_start_no_thread_under_the_cli_environment() -> None:
    got = _script(
        PRELUDE + "import numpy, pandas, pyarrow\nprint(json.dumps({'foreign': forked.foreign_threads()}))"
    )
    assert got == {"foreign": 0}


def test_single_threaded_env_keeps_the_users_settings() -> None:
    env = {"OPENBLAS_NUM_THREADS": "4"}
    forked.single_threaded_env(env)
    assert env["OPENBLAS_NUM_THREADS"] == "4"
    assert env["JE_ARROW_MALLOC_CONF"] == forked.THREAD_ENV["JE_ARROW_MALLOC_CONF"]


TABLES_EQUAL = """
import sys, pandas as pd, dissector
path, names = sys.argv[1], ("memparcels", "irqs", "ledger_findings", "findings")
a, b = dissector.open(path), dissector.open(path)
started = a.build_beside(*names[:3])
same = all(a._base.get(n).equals(b._base.get(n)) for n in names[:3])
same = same and a.findings.equals(b.findings) and a.memparcels.equals(b.memparcels)
dtypes = all((a._base.get(n).dtypes == b._base.get(n).dtypes).all() for n in names[:3])
print(json.dumps({"started": started, "same": bool(same), "dtypes": bool(dtypes)}))
"""


@pytest.mark.parametrize("path", TRACES, ids=[p.name for p in TRACES])
def test_tables_built_beside_equal_tables_built_here(path: Path) -> None:
    code = PRELUDE + f"import sys\nsys.argv = ['x', {str(path)!r}]\n" + TABLES_EQUAL
    assert _script(code) == {"started": True, "same": True, "dtypes": True}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_ghrm_findings_prints_the_same_with_and_without_a_child(fmt: str) -> None:
    files = [str(p) for p in TRACES]
    args = [sys.executable, "-m", "dissector.cli", "findings", "--format", fmt, *files]
    one = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=_env(GHRM_JOBS="1"))
    two = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=_env())
    assert (one.returncode, one.stdout, one.stderr) == (two.returncode, two.stdout, two.stderr)
    assert one.stdout.strip()


def test_share_gives_the_costliest_first_to_the_less_loaded() -> None:
    from dissector.report.figures import share

    assert share([]) == ([], [])
    assert share([0.37, 0.24, 0.22, 0.1, 0.17, 0.15, 0.15, 0.15]) == ([0, 3, 4, 6], [1, 2, 5, 7])
    here, there = share([1.0] * 5)
    assert sorted(here + there) == list(range(5)) and len(here) == 3
    # this process busy with the page's tables meanwhile: the child takes the costliest picture
    assert share([0.37, 0.24, 0.22, 0.1, 0.17, 0.15, 0.15, 0.15], busy=0.15) == ([1, 4, 5, 7], [0, 2, 3, 6])


def test_report_pictures_drawn_beside_come_back_in_page_order() -> None:
    """Each picture in its place, whichever process drew it (``draw`` replaced by one that says
    which picture and which process)."""
    got = _script(
        PRELUDE
        + f"""
import dissector
from dissector.report import figures
trace = dissector.open({str(ROOT / "traces" / "faults_mix.pcapng")!r})
def fake(spec, trace, *args, formats=()):
    return figures.Figure(spec.key + ":" + ",".join(map(str, args)), str(os.getpid()))
figures.draw = fake
sections, failed = {{"vms": True, "latency": True, "errors": True}}, [0x80, 0x81, 0x82]
drawn = figures.section_figures(trace, sections, failed, ("web",))
plan = figures.picture_plan(sections, failed)
want = {{s: [spec.key + ":" + ",".join(map(str, a)) for spec, a in d] for s, d in plan.items()}}
print(json.dumps({{"order": {{s: [f.key for f in fs] for s, fs in drawn.items()}} == want,
                  "pids": len({{f.caption for fs in drawn.values() for f in fs}})}}))
"""
    )
    assert got == {"order": True, "pids": 2}


@pytest.mark.parametrize("name", ["faults_mix.pcapng", "fleet_20vms.pcapng"])
def test_ghrm_report_writes_the_same_page_with_and_without_a_child(name: str, tmp_path: Path) -> None:
    pages = []
    for jobs in ("1", "0"):
        out = tmp_path / f"report-{jobs}.html"
        args = [sys.executable, "-m", "dissector.cli", "report", str(ROOT / "traces" / name), "-o", str(out)]
        subprocess.run(args, capture_output=True, cwd=ROOT, env=_env(GHRM_JOBS=jobs), check=True)
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]
    assert pages[0].count(b"data:image/") >= 4  # pictures drawn, some beside


def test_a_child_never_joined_is_ended_and_reaped() -> None:
    got = _script(
        PRELUDE
        + """
b = forked.Beside(lambda: time.sleep(60))
started = b.forked
t = time.monotonic()
del b
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
print(json.dumps({"started": started, "left": left, "quick": time.monotonic() - t < 10}))
"""
    )
    assert got == {"started": True, "left": False, "quick": True}


THREAD_ENV_KEYS = {*forked.THREAD_ENV, "GHRM_JOBS"}  # what a user's shell does not set
FORK_COUNTER = """
import os, sys
marker = sys.argv[1]
real = os.fork
def fork():
    with open(marker, "a") as f:
        f.write("fork\\n")
    if os.environ.get("FAIL_FORK"):
        raise BlockingIOError(11, "Resource temporarily unavailable")
    return real()
os.fork = fork
from dissector.cli import main
code = main(sys.argv[2:])
print("fds", len(os.listdir("/proc/self/fd")), file=sys.stderr)
sys.exit(code)
"""


def _counted(tmp_path: Path, args: list[str], **extra: str) -> tuple[int, str, int, str]:
    """``ghrm args`` run in a fresh interpreter that counts its forks (and refuses them with
    ``FAIL_FORK``): (exit status, stdout, forks, stderr)."""
    marker = tmp_path / "forks"
    marker.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV_KEYS}  # as a user's shell
    env.update(extra)
    done = subprocess.run(
        [sys.executable, "-c", FORK_COUNTER, str(marker), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    return done.returncode, done.stdout, marker.read_text().count("fork"), done.stderr


def test_ghrm_findings_and_report_fork_from_a_plain_shell(tmp_path: Path) -> None:
    """``main`` keeps numpy and pyarrow single-threaded, so the commands do fork (the equality
    tests above would pass unforked too)."""
    trace = str(ROOT / "traces" / "faults_mix.pcapng")
    code, out, forks, _ = _counted(tmp_path, ["findings", trace])
    assert (code, forks) == (0, 1) and out.strip()
    code, _, forks, _ = _counted(tmp_path, ["report", trace, "-o", str(tmp_path / "r.html")])
    assert (code, forks) == (0, 2)  # the ledgers, then a share of the pictures
    code, _, forks, _ = _counted(tmp_path, ["findings", trace], GHRM_JOBS="1")
    assert (code, forks) == (0, 0)


def test_a_refused_fork_does_the_work_here(tmp_path: Path) -> None:
    trace = str(ROOT / "traces" / "faults_mix.pcapng")
    code, alone, _, err_alone = _counted(tmp_path, ["findings", trace], GHRM_JOBS="1")
    code2, refused, forks, err = _counted(tmp_path, ["findings", trace], FAIL_FORK="1")
    assert (code, code2, forks) == (0, 0, 1)
    assert refused == alone
    assert err == err_alone  # no error line, and no file descriptor left open


def test_a_failed_child_leaves_each_table_to_be_built_when_asked() -> None:
    """As without a child: a table that builds is built, one that fails raises when asked."""
    got = _script(
        PRELUDE
        + f"""
import dissector
from dissector.analysis import tables
def broken(base):
    raise RuntimeError("irqs cannot be built")
tables_irqs = [t for t in tables.TABLES if t.name == "irqs"][0]
import dataclasses, dissector.trace as T
T._REGISTRY["irqs"] = dataclasses.replace(tables_irqs, build=broken)
trace = dissector.open({str(ROOT / "traces" / "faults_mix.pcapng")!r})
started = trace.build_beside("memparcels", "irqs")
parcels = len(trace.memparcels)
try:
    trace.irqs
    irqs = "built"
except RuntimeError as exc:
    irqs = str(exc)
print(json.dumps({{"started": started, "parcels": parcels > 0, "irqs": irqs}}))
"""
    )
    assert got == {"started": True, "parcels": True, "irqs": "irqs cannot be built"}


def test_a_child_forks_no_grandchild_and_answers_stay() -> None:
    got = _script(
        PRELUDE
        + """
outer = forked.Beside(lambda: forked.Beside(os.getpid).forked)
nested = outer.result()
b = forked.Beside(os.getpid)
first, second = b.answer(), b.answer()
print(json.dumps({"nested_forked": nested, "same": first == second and first[0] != parent}))
"""
    )
    assert got == {"nested_forked": False, "same": True}


def test_a_child_dies_with_its_parent() -> None:
    code = (
        PRELUDE
        + """
import signal, sys
b = forked.Beside(lambda: time.sleep(60))
print(b._pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env())
    child = int(done.stdout.split()[0])
    for _ in range(100):
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            break
        if state in {"Z", "X"}:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the child {child} outlived its parent")
