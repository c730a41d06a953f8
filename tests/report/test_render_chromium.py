"""Headless Chromium opens the report from a file:// URL without a console message and draws it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dissector.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("GHRM_SCREENSHOTS", tempfile.gettempdir()))


def render(html: Path, png: Path, width: int = 1400, height: int = 2000) -> str:
    """Screenshot ``html`` with headless Chromium; returns its stderr (console messages included)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs the Debian package)")
@pytest.mark.parametrize("name", ["faults_mix", "slow_rm"])
def test_chromium_renders_report_without_console_errors(request, name: str, tmp_path: Path) -> None:
    trace = request.getfixturevalue(name)
    html = build_report(trace, tmp_path / f"{name}.html")
    png = SCREENSHOTS / f"ghrm-report-{name}.png"
    stderr = render(html, png)
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # CSP violations (a fetch) and script errors land here
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a page was drawn, not a blank
