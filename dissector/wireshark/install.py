"""Put the generated dissector where Wireshark and tshark load it without any option.

The folder is the one tshark itself reports as "Personal Lua Plugins" (``tshark -G folders``),
so the answer is right for the installed Wireshark version and platform; without tshark it is
Wireshark's documented default on Linux and macOS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .lua import LUA_FILE_NAME, generate_lua

DEFAULT_PLUGIN_DIR = Path("~/.local/lib/wireshark/plugins")


def personal_plugin_dir(tshark: str | None = None) -> Path:
    """The personal Lua plugin folder tshark reports, else ``~/.local/lib/wireshark/plugins``."""
    exe = tshark or shutil.which("tshark")
    if exe:
        try:
            done = subprocess.run(
                [exe, "-G", "folders"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None:
            for line in done.stdout.splitlines():
                label, _, value = line.partition(":")
                if label.strip() == "Personal Lua Plugins" and value.strip():
                    return Path(value.strip()).expanduser()
    return DEFAULT_PLUGIN_DIR.expanduser()


def install(directory: str | os.PathLike[str] | None = None, *, dialect: str = "rm") -> Path:
    """Write ``gunyah_rm.lua`` into ``directory`` (default: the personal plugin folder)."""
    target_dir = Path(directory).expanduser() if directory is not None else personal_plugin_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / LUA_FILE_NAME
    text = generate_lua(dialect)
    tmp = target.with_suffix(".lua.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)  # never leave a half-written plugin for Wireshark to load
    return target
