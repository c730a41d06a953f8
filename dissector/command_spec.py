"""What a ``ghrm`` subcommand is, as data: a leaf module (imports nothing of ghrm).

Why a module of its own: the table registry (``dissector.analysis.tables``) declares the table
commands and the CLI machinery (``dissector.commands``) loads them lazily; both need this
declaration, and neither may import the other's side of the program.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

Options = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One ``ghrm`` subcommand: its name, one-line help, options and handler.

    ``options`` adds the arguments (and may set the parser's description and epilog); ``run``
    is ``handler(args, out, err) -> exit status``, or None when ``options`` adds nested
    subcommands with their own handlers (``ghrm wireshark lua``). ``fleet``: the command also
    answers across many captures (``--fleet``, ``dissector.fleet.cli``)."""

    name: str
    help: str
    options: str | Options | None = None
    run: str | None = None
    fleet: bool = False
