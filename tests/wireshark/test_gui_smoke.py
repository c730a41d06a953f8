"""Wireshark's GUI under Xvfb with the installed plugin: it loads, shows a capture, opens
Statistics > Gunyah RM/Service Response Time and /Lifecycles, reloads the Lua plugins, and a
second copy (-X lua_script:) raises no Lua error dialog; Wireshark's log shows no Lua error.

A Lua error while loading is a modal dialog that holds the capture back, so "the window title
becomes the capture's name" is the check; the bad-script case shows that the check sees one.
Skipped when wireshark, Xvfb, xdotool or ImageMagick's import is missing (.ci/run installs
them). No timing is asserted: the waits only bound how long a broken run takes to fail.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dissector.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "traces" / "faults_mix.pcapng"
TOOLS = ("wireshark", "Xvfb", "xdotool", "import")
LOAD_TIMEOUT = 120  # seconds for Wireshark to start and read the capture on a busy CI machine
SRT_TITLE = "Gunyah RM SRT Statistics"
LIFECYCLE_TITLE = "Gunyah RM VM Lifecycles"
# Wireshark 4.0 makes no submenu in Statistics (only Tools gets one): our items sit in its
# alphabetical list as "Gunyah RM/<name>", the first of them this many rows below the top.
GUNYAH_MENU_ROW = 9
GUNYAH_MENU = sorted(("Conversations", "Errors", "Lifecycles", "Service Response Time"))


def menu_keys(item: str) -> list[str]:
    """xdotool keys that open Statistics > Gunyah RM/<item>."""
    return ["alt+s", *["Down"] * (GUNYAH_MENU_ROW + GUNYAH_MENU.index(item)), "Return"]


# Statistics > Service Response Time (row 7) > Gunyah RM, 7th of Wireshark 4.0's SRT tables (AFP,
# CAMEL, DCE-RPC, Diameter, FC, GTP, Gunyah RM, ...): where Wireshark users look for an SRT table
SRT_SUBMENU_KEYS = ["alt+s", *["Down"] * 7, "Right", *["Down"] * 6, "Return"]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (Debian: wireshark-qt xvfb xdotool imagemagick)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


class Gui:
    """One Wireshark process on the Xvfb display, with its own HOME."""

    def __init__(self, display: str, home: Path, args: list[str]) -> None:
        self.env = {**os.environ, "DISPLAY": display, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
        self.env.pop("XDG_CONFIG_HOME", None)
        self.log = home / "wireshark.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(["wireshark", *args], stdout=log, stderr=log, env=self.env)

    def xdotool(self, *args: str, timeout: float = 30) -> str:
        done = subprocess.run(
            ["xdotool", *args], capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        return done.stdout.strip()

    def wait_window(self, name: str, timeout: float = LOAD_TIMEOUT) -> str | None:
        """Window id once a window whose title contains ``name`` exists, else None."""
        try:
            found = self.xdotool("search", "--sync", "--name", name, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return found.splitlines()[0] if found else None

    def titles(self) -> set[str]:
        ids = self.xdotool("search", "--name", ".").splitlines()
        return {self.xdotool("getwindowname", w) for w in ids}

    def screenshot(self, path: Path) -> Path:
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, timeout=60)
        return path

    def close(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        return self.log.read_text(encoding="utf-8", errors="replace")


def _install(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert main(["wireshark", "install"], io.StringIO(), io.StringIO()) == 0


def _distinct_colours(path: Path) -> int:
    from PIL import Image  # comes with matplotlib

    with Image.open(path) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 16) or [])


def test_wireshark_opens_a_trace_and_the_srt_window(display, tmp_path, monkeypatch):
    home = tmp_path / "home"
    _install(home, monkeypatch)
    gui = Gui(display, home, ["-r", str(TRACE)])
    try:
        window = gui.wait_window(TRACE.name)
        assert window is not None, f"the capture never showed (a Lua error dialog?): {gui.titles()}"
        gui.xdotool("windowmove", window, "0", "0", "windowsize", window, "1280", "800")
        gui.xdotool("windowfocus", window)
        gui.xdotool("key", *menu_keys("Service Response Time"))
        assert gui.wait_window(SRT_TITLE, timeout=60) is not None, gui.titles()
        shot = gui.screenshot(tmp_path / "wireshark.png")
        assert _distinct_colours(shot) > 20  # a drawn window, not a blank screen
        # Statistics > Gunyah RM/Lifecycles: ghrm lifecycle --summary in a text window
        gui.xdotool("windowfocus", window)
        gui.xdotool("key", *menu_keys("Lifecycles"))
        assert gui.wait_window(LIFECYCLE_TITLE, timeout=60) is not None, gui.titles()
        assert _distinct_colours(gui.screenshot(tmp_path / "lifecycles.png")) > 20
        # Statistics > Service Response Time > Gunyah RM: the same SRT window (a second one)
        srt_windows = len(gui.xdotool("search", "--name", SRT_TITLE).splitlines())
        gui.xdotool("windowfocus", window)
        gui.xdotool("key", *SRT_SUBMENU_KEYS)
        for _ in range(60):
            if len(gui.xdotool("search", "--name", SRT_TITLE).splitlines()) > srt_windows:
                break
            time.sleep(1)
        assert len(gui.xdotool("search", "--name", SRT_TITLE).splitlines()) > srt_windows, gui.titles()
        # Analyze > Reload Lua Plugins: the plugin loads again (no "already loaded" step-aside)
        gui.xdotool("windowfocus", window)
        gui.xdotool("key", "ctrl+shift+l")
        assert gui.wait_window(TRACE.name) is not None
        gui.xdotool("windowfocus", window)
        for _ in range(30):  # the reload closes the plugin's windows
            if not [t for t in gui.titles() if "Gunyah RM" in t]:
                break
            time.sleep(1)
        assert not [t for t in gui.titles() if "Gunyah RM" in t], gui.titles()
        gui.xdotool("key", *menu_keys("Service Response Time"))
        # the menu is registered again (reloaded menus may come in another order)
        assert gui.wait_window("Wireshark · Gunyah RM", timeout=60) is not None, gui.titles()
    finally:
        log = gui.close()
    assert "lua" not in log.lower(), log


def test_a_second_copy_loads_without_an_error_dialog(display, tmp_path, monkeypatch, lua_file):
    home = tmp_path / "home"
    _install(home, monkeypatch)
    gui = Gui(display, home, ["-X", f"lua_script:{lua_file}", "-r", str(TRACE)])
    try:
        assert gui.wait_window(TRACE.name) is not None, f"a Lua error dialog? {gui.titles()}"
    finally:
        log = gui.close()
    assert "already loaded" in log and "Error" not in log, log


def test_the_check_sees_a_lua_error_dialog(display, tmp_path):
    """A script that fails to load: the dialog holds the capture back, so the title never changes."""
    bad = tmp_path / "bad.lua"
    bad.write_text('error("broken on purpose")\n', encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    gui = Gui(display, home, ["-X", f"lua_script:{bad}", "-r", str(TRACE)])
    try:
        assert gui.wait_window("Wireshark") is not None  # the main window is up
        assert gui.wait_window(TRACE.name, timeout=15) is None
    finally:
        gui.close()
