"""Subcommands declared lightly and loaded lazily, so ``ghrm --help`` starts in a blink.

Why: the analysis commands need pandas, ``decode`` needs Scapy, ``report`` matplotlib; importing
all of them to print the list of subcommands took a second. A ``Command`` names its module
functions instead of importing them: ``options`` (adds its arguments; run only when the
command is chosen or its ``--help`` asked for) and ``run`` (the handler, imported when the
command runs). ``add_commands`` puts commands into an argparse parser; the help listing needs
only each command's name and one-line help.

A reference is ``"package.module:function"``; ``options`` may also be a plain function.
"""

from __future__ import annotations

import argparse
import importlib
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from dissector import cli_options
from dissector.command_spec import Command, Options

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]
_CONFIGURE = "_ghrm_configure"  # attribute of a subparser whose options are not added yet


def resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """The function named by ``"module:function"`` (imported now), or ``ref`` itself."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


class LazyHandler:
    """A subcommand handler imported on its first call."""

    def __init__(self, ref: str, command: str, fleet: bool = False) -> None:
        self.ref = ref
        self.command = command
        self.fleet = fleet

    def __call__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        if self.fleet:
            if getattr(args, "fleet", False):
                from dissector.fleet.cli import run_fleet

                return run_fleet(self.command, args, out, err)
            given = [o for o in cli_options.FLEET_ONLY if getattr(args, o, None) is not None]
            if given:
                err.write(f"ghrm {self.command}: --{given[0].replace('_', '-')} needs --fleet\n")
                return 2
        return int(resolve(self.ref)(args, out, err))

    def __repr__(self) -> str:
        return f"LazyHandler({self.ref!r})"


class LazySubParsersAction(argparse._SubParsersAction):  # argparse's one hook for subcommands
    """Subparsers whose options are added when one of them is chosen (see ``configure``)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        chosen = self._name_parser_map.get(values[0]) if values else None
        if chosen is not None:
            configure(chosen)
        super().__call__(parser, namespace, values, option_string)


def subparsers(parser: argparse.ArgumentParser, **kwargs: Any) -> argparse._SubParsersAction:
    """``parser.add_subparsers`` with lazily configured subcommands."""
    parser.register("action", "parsers", LazySubParsersAction)
    return parser.add_subparsers(**kwargs)


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of a lazily declared subcommand now (once), then what ``add_commands`` was
    told to run after (the examples); nested parsers inherit a patched ``error`` method
    (``dissector.boundary.one_line_errors``)."""
    pending = parser.__dict__.pop(_CONFIGURE, None)
    if pending is not None:
        pending(parser)
        if "error" in vars(parser):
            for child in nested(parser):
                child.error = types.MethodType(parser.error.__func__, child)  # type: ignore[attr-defined,method-assign]
    return parser


def nested(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The direct subcommand parsers of ``parser`` (none until it is configured)."""
    out: list[argparse.ArgumentParser] = []
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            out.extend(action.choices.values())
    return out


def add_commands(
    sub: argparse._SubParsersAction,
    commands: Iterable[Command],
    *,
    eager: bool = False,
    after: Options | None = None,
) -> None:
    """Declare ``commands`` in ``sub``; their options are added on use (now if ``eager``), then
    ``after(parser)`` runs (``ghrm`` appends the examples: ``cli_help.append_examples``; passed
    in, so this mechanism imports nothing above it)."""
    for command in commands:
        p = sub.add_parser(command.name, help=command.help)
        if command.run is not None:
            p.set_defaults(func=LazyHandler(command.run, command.name, command.fleet))
        setattr(p, _CONFIGURE, _configurer(command, after))
        if eager:
            configure(p)


def _configurer(command: Command, after: Options | None) -> Options:
    def add(p: argparse.ArgumentParser) -> None:
        if command.options is not None:
            resolve(command.options)(p)
        if command.fleet:
            cli_options.fleet_options(p)
        if after is not None:
            after(p)

    return add


def find(commands: Sequence[Command], name: str) -> Command:
    """The command called ``name`` (a ``KeyError`` naming the known ones otherwise)."""
    for command in commands:
        if command.name == name:
            return command
    raise KeyError(f"no command {name!r}; commands: {', '.join(c.name for c in commands)}")
