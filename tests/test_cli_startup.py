"""Start-up (issue 17): ``ghrm --help`` and ``ghrm decode --help`` import no pandas, Scapy or
matplotlib; the subcommands are declared lightly and loaded when they run (``dissector.commands``).
Timing is in ``benchmarks/bench_startup.py``, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("pandas", "scapy", "matplotlib", "numpy", "dask")

PROBE = """
import contextlib, io, json, sys
from dissector.cli import build_parser
parser = build_parser()
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        parser.parse_args(argv)
    assert "usage: ghrm" in out.getvalue(), argv
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(*argvs: list[str]) -> list[str]:
    code = PROBE.format(argvs=list(argvs), heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_building_the_parser_imports_nothing_heavy():
    assert loaded_after() == []


@pytest.mark.parametrize("argv", [["--help"], ["decode", "--help"], ["convert", "--help"]])
def test_help_imports_no_pandas_scapy_or_matplotlib(argv):
    assert loaded_after(argv) == []


@pytest.mark.parametrize("command", ["stats", "memparcels", "findings", "lifecycle", "report", "export"])
def test_table_and_report_help_import_no_pandas(command):
    assert loaded_after([command, "--help"]) == []


def test_the_console_script_lists_every_command_with_its_help():
    done = subprocess.run(
        [sys.executable, "-m", "dissector.cli", "--help"], capture_output=True, text=True, check=True
    )
    from dissector.cli import COMMANDS

    for command in COMMANDS:
        assert command.name in done.stdout and command.help.split()[0] in done.stdout


def test_a_command_imports_its_module_when_it_runs():
    code = (
        "import io, sys\n"
        "from dissector.cli import main\n"
        "assert 'dissector.analysis.ledgers.cli' not in sys.modules\n"
        "main(['irqs', 'traces/multi_queue.pcapng'], io.StringIO(), io.StringIO())\n"
        "print('dissector.analysis.ledgers.cli' in sys.modules, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.split() == ["True", "True"]
