"""``ghrm wireshark lua`` and ``ghrm wireshark install``: the generated dissector on the command line.

``dissector.cli`` calls ``register(subparsers)``; each handler takes ``(args, out, err)`` and
returns the exit status, like every other ghrm subcommand.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from dissector.protocol.dialects import DIALECTS

from .install import install, personal_plugin_dir
from .lua import LUA_FILE_NAME, generate_lua

EXIT_OK, EXIT_FAILED = 0, 1


def cmd_lua(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the dissector to ``-o FILE`` (or stdout)."""
    text = generate_lua(args.dialect)
    if args.output in (None, "-"):
        out.write(text)
        return EXIT_OK
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    err.write(f"ghrm: wrote {args.output}; try: tshark -X lua_script:{args.output} -r CAPTURE -2 -V\n")
    return EXIT_OK


def cmd_install(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the dissector into Wireshark's personal Lua plugin folder (or ``--dir``)."""
    try:
        target = install(args.dir, dialect=args.dialect)
    except OSError as exc:
        err.write(f"ghrm: error: cannot install the dissector: {exc}\n")
        return EXIT_FAILED
    out.write(f"{target}\n")
    err.write(
        "ghrm: installed; Wireshark and tshark load it at their next start (check: tshark -G protocols)\n"
    )
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``wireshark {lua,install}`` to the ``ghrm`` parser."""
    parser = subparsers.add_parser(
        "wireshark",
        help="the Wireshark/tshark Lua dissector generated from ghrm's protocol tables",
        description="Generate or install a Lua dissector for Wireshark and tshark that decodes "
        "exactly what `ghrm decode` decodes.",
    )
    sub = parser.add_subparsers(dest="wireshark_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dialect",
            default="rm",
            choices=sorted(DIALECTS),
            help="names of ids and enum values (default: rm)",
        )

    p = sub.add_parser("lua", help="write the Lua dissector")
    p.add_argument("-o", "--output", help=f"output file (default: stdout), e.g. {LUA_FILE_NAME}")
    common(p)
    p.set_defaults(func=cmd_lua)

    p = sub.add_parser(
        "install",
        help="put the dissector in Wireshark's personal Lua plugin folder",
        description=f"Writes {LUA_FILE_NAME} into the 'Personal Lua Plugins' folder that "
        "`tshark -G folders` reports (default ~/.local/lib/wireshark/plugins).",
    )
    p.add_argument("--dir", help="install here instead of the personal plugin folder")
    common(p)
    p.set_defaults(func=cmd_install)


__all__ = ["cmd_install", "cmd_lua", "personal_plugin_dir", "register"]
