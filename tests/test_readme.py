"""The README's examples stay true: its Python runs and its ``ghrm`` commands succeed."""

from __future__ import annotations

import glob
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from dissector.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command = line.split("#")[0].strip()
            # the first two commands set up a venv; a live dmesg pipe or --follow never ends
            if command.startswith("ghrm ") and not re.search(r"\||dmesg -w|--follow", command):
                lines.append(command)
    return lines


def test_readme_python_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(ROOT)
    code = "\n".join(re.findall(r"```python\n(.*?)```", README, re.S))
    exec(compile(code, "README.md", "exec"), {})
    assert "Request VM_START seq=5 vmid=0x80" in capsys.readouterr().out


@pytest.mark.parametrize("command", _commands())
def test_readme_command_succeeds(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    argv = []
    for word in shlex.split(command)[1:]:
        expanded = sorted(glob.glob(word)) if "*" in word else [word]
        argv.extend(expanded)
    if "-o" in argv:  # write outputs into tmp, not the repo
        i = argv.index("-o") + 1
        argv[i] = os.fspath(tmp_path / Path(argv[i]).name)
    if "convert" in argv:  # README converts a user's dmesg.txt: use the bundled log
        argv[argv.index("convert") + 1] = "traces/dmesg_hexlog.log"
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out, err) == 0, err.getvalue()
    assert out.getvalue() or "-o" in argv
