"""``ghrm wireshark lua`` and ``ghrm wireshark install``: the generated dissector on the command line.

``dissector.cli`` calls ``register(subparsers)``; each handler takes ``(args, out, err)`` and
returns the exit status, like every other ghrm subcommand.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from dissector.errors import EXIT_INPUT, EXIT_OK
from dissector.protocol.dialects import DIALECTS

from .install import install, install_colors, installed_copy, personal_plugin_dir
from .lua import LUA_FILE_NAME, generate_lua


def cmd_lua(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the dissector to ``-o FILE`` (or stdout)."""
    text = generate_lua(args.dialect)
    if args.output in (None, "-"):
        out.write(text)
        return EXIT_OK
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    copy = installed_copy()
    if copy is not None:  # loading both would make the second one step aside
        err.write(
            f"ghrm: wrote {args.output}; note: an installed copy exists ({copy}), which Wireshark and "
            f"tshark load already: run tshark -r CAPTURE -2 -V without -X, or update the installed "
            f"copy with `ghrm wireshark install` (with -X lua_script:{args.output} the installed "
            "copy wins and this one steps aside)\n"
        )
    else:
        err.write(f"ghrm: wrote {args.output}; try: tshark -X lua_script:{args.output} -r CAPTURE -2 -V\n")
    return EXIT_OK


def cmd_install(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write the dissector into Wireshark's personal Lua plugin folder (or ``--dir``)."""
    try:
        target = install(args.dir, dialect=args.dialect)
        colors = None if args.dir is not None or args.no_colors else install_colors()
    except OSError as exc:
        err.write(f"ghrm: error: cannot install the dissector: {exc}\n")
        return EXIT_INPUT
    out.write(f"{target}\n")
    if colors is not None:
        err.write(f"ghrm: colouring rules (malformed red, error replies orange) first in {colors}\n")
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
    p.add_argument(
        "--dir", help="install here instead of the personal plugin folder (no colouring rules then)"
    )
    p.add_argument(
        "--no-colors",
        action="store_true",
        help="do not put the GH-RM colouring rules in the personal colorfilters file",
    )
    common(p)
    p.set_defaults(func=cmd_install)


__all__ = ["cmd_install", "cmd_lua", "personal_plugin_dir", "register"]
