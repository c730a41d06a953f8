"""``ghrm --version`` and the examples closing every subcommand's ``--help`` (issue 13.11)."""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from dissector.cli import build_parser, main
from dissector.cli_help import EXAMPLES, subcommands

ROOT = Path(__file__).resolve().parents[1]


def test_version_prints_the_package_version():
    done = subprocess.run(
        [sys.executable, "-m", "dissector.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"ghrm {metadata.version('ghrm')}"


@pytest.mark.parametrize("path", sorted(subcommands(build_parser())))
def test_every_subcommand_help_ends_with_two_or_three_examples(path):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main([*path.split(), "--help"])
    text = buf.getvalue().rstrip().splitlines()
    start = text.index("examples:")
    examples = text[start + 1 :]
    assert 2 <= len(examples) <= 3 and examples == [f"  {e}" for e in EXAMPLES[path]]
    assert all("ghrm " in e for e in examples)


RUNNABLE = [
    e.split("   #")[0].strip()
    for lines in EXAMPLES.values()
    for e in lines
    if e.startswith("ghrm ") and "traces/" in e and " -o " not in e and "|" not in e and "&&" not in e
]


@pytest.mark.parametrize("example", RUNNABLE)
def test_examples_on_bundled_traces_run(example, monkeypatch):
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    code = main(shlex.split(example)[1:], out, err)
    assert code == 0 and out.getvalue(), (example, err.getvalue())
