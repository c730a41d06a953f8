"""Put the generated dissector where Wireshark and tshark load it without any option.

The folders are the ones tshark itself reports (``tshark -G folders``): "Personal Lua Plugins"
for the dissector, "Personal configuration" for its colouring rules, so the answer is right for
the installed Wireshark version and platform; without tshark they are Wireshark's documented
defaults on Linux and macOS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .lua import LUA_FILE_NAME, PROTO_SHORT, generate_lua

DEFAULT_PLUGIN_DIR = Path("~/.local/lib/wireshark/plugins")
DEFAULT_CONFIG_DIR = Path("~/.config/wireshark")
DEFAULT_GLOBAL_DIR = Path("/usr/share/wireshark")
COLORFILTERS = "colorfilters"
# (name, display filter, background, foreground): 16-bit RGB in the order of Wireshark's
# colorfilters file. First match wins, so ours go first: malformed red, error replies orange.
COLOR_RULES = (
    (f"{PROTO_SHORT} malformed", "gunyah_rm.malformed", (65535, 36000, 36000), (0, 0, 0)),
    (f"{PROTO_SHORT} error reply", "gunyah_rm.err_code != 0", (65535, 50000, 20000), (0, 0, 0)),
)


def wireshark_folders(tshark: str | None = None) -> dict[str, Path]:
    """What ``tshark -G folders`` reports (label -> folder); empty without tshark."""
    exe = tshark or shutil.which("tshark")
    if not exe:
        return {}
    try:
        done = subprocess.run([exe, "-G", "folders"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    out: dict[str, Path] = {}
    for line in done.stdout.splitlines():
        label, _, value = line.partition(":")
        if value.strip():
            out.setdefault(label.strip(), Path(value.strip()).expanduser())
    return out


def personal_plugin_dir(tshark: str | None = None) -> Path:
    """The personal Lua plugin folder tshark reports, else ``~/.local/lib/wireshark/plugins``."""
    return wireshark_folders(tshark).get("Personal Lua Plugins", DEFAULT_PLUGIN_DIR.expanduser())


def installed_copy() -> Path | None:
    """The installed dissector, if there is one in the personal plugin folder."""
    path = personal_plugin_dir() / LUA_FILE_NAME
    return path if path.is_file() else None


def _write_atomically(target: Path, text: str) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)  # never leave a half-written file for Wireshark to load


def color_rule_lines() -> list[str]:
    def rgb(c: tuple[int, int, int]) -> str:
        return "[" + ",".join(map(str, c)) + "]"

    return [f"@{name}@{flt}@{rgb(bg)}{rgb(fg)}" for name, flt, bg, fg in COLOR_RULES]


def install_colors(config_dir: Path | None = None, global_dir: Path | None = None) -> Path:
    """Put our colouring rules first in the personal ``colorfilters`` file (idempotent).

    A personal file replaces Wireshark's defaults, so when there is none yet it starts from the
    global one; rules of an earlier install are replaced, the user's own rules kept.
    """
    folders = wireshark_folders() if config_dir is None or global_dir is None else {}
    config = config_dir or folders.get("Personal configuration", DEFAULT_CONFIG_DIR.expanduser())
    glob = global_dir or folders.get("Global configuration", DEFAULT_GLOBAL_DIR)
    config.mkdir(parents=True, exist_ok=True)
    target = config / COLORFILTERS
    source = target if target.is_file() else glob / COLORFILTERS
    lines = source.read_text(encoding="utf-8").splitlines() if source.is_file() else []
    ours = tuple(f"@{name}@" for name, *_ in COLOR_RULES)
    kept = [line for line in lines if not line.lstrip("!").startswith(ours)]
    head = [line for line in kept[:1] if line.startswith("#")]
    _write_atomically(target, "\n".join([*head, *color_rule_lines(), *kept[len(head) :]]) + "\n")
    return target


def install(directory: str | os.PathLike[str] | None = None, *, dialect: str = "rm") -> Path:
    """Write ``gunyah_rm.lua`` into ``directory`` (default: the personal plugin folder)."""
    target_dir = Path(directory).expanduser() if directory is not None else personal_plugin_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / LUA_FILE_NAME
    _write_atomically(target, generate_lua(dialect))
    return target
