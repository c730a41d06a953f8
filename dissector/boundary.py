"""The CLI's error boundary: one line on stderr and a documented exit status, never a traceback.

Why a module of its own: ``dissector/cli.py`` is where every branch adds subcommands; keeping the
boundary here keeps that file's ``main`` a few lines long. ``run`` parses the command line,
checks every input and output path (``dissector.paths``) and runs the subcommand; every OS
error, bad argument and ``dissector`` error becomes one line and the exit status of README
"Exit codes" (2 usage, 1 unreadable input or failed write, 0 decoded, damage reported as
warnings). ``--debug`` anywhere on the command line shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO, cast

from dissector.errors import EXIT_INPUT, EXIT_OK, GhrmError, UsageError, exit_code, one_line
from dissector.paths import validate_paths

DEBUG_FLAG = "--debug"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SAFE_ASCII = bytes(b for b in range(128) if not _CONTROL.match(chr(b)))  # what passes as is


def _plain(text: str, piece: int = 1 << 20) -> bool:
    """``text`` is ASCII without a control character (every jsonl line), told by deleting the
    bytes that pass as is, a piece at a time: ~3x faster than ``_CONTROL.search`` on the tens of
    MB ``ghrm decode`` writes at once, and no copy of the whole text."""
    if not text.isascii():
        return False
    return not any(
        text[k : k + piece].encode("ascii").translate(None, _SAFE_ASCII) for k in range(0, len(text), piece)
    )


class TerminalSafe:
    """A text stream that shows control characters as escapes instead of sending them.

    Capture content reaches stdout (pcapng interface names and comments, RM strings in
    payloads); an ESC byte in it must not retitle the window, clear the screen or forge output.
    Newline and tab pass; everything else below 0x20, DEL and the C1 controls become ``\\\\xNN``.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _plain(text):
            return self._stream.write(text)
        if _CONTROL.search(text):
            text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _one_line_error(self: argparse.ArgumentParser, message: str) -> NoReturn:
    raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` and its subcommands report a bad command line as one ``UsageError`` line."""
    parser.error = _one_line_error.__get__(parser)  # type: ignore[method-assign]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                one_line_errors(sub)
    return parser


def run(
    build_parser: Callable[[], argparse.ArgumentParser],
    argv: Sequence[str] | None,
    out: TextIO | None,
    err: TextIO | None,
) -> int:
    """Parse ``argv``, check its paths and run the subcommand, inside the error boundary."""
    out = cast(TextIO, TerminalSafe(out or sys.stdout))
    err = cast(TextIO, TerminalSafe(err or sys.stderr))
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args_list
    if debug:
        args_list = [a for a in args_list if a != DEBUG_FLAG]
    try:
        args = one_line_errors(build_parser()).parse_args(args_list)
        validate_paths(args)
        return args.func(args, out, err)
    except BrokenPipeError:  # `ghrm decode x | head`
        _quiet_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except (GhrmError, OSError, MemoryError, RecursionError, OverflowError) as exc:
        if debug:
            raise
        return report(exc, err)


def report(exc: BaseException, err: TextIO) -> int:
    """One line on stderr for ``exc``; return its exit status."""
    if isinstance(exc, GhrmError):
        text, code = str(exc), exit_code(exc)
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        text, code = f"{where}{exc.strerror or exc}", EXIT_INPUT
    else:  # a bound we did not foresee: still no traceback, and say how to get one
        text, code = f"{type(exc).__name__}: {exc} (rerun with --debug for details)", EXIT_INPUT
    line = one_line(text)
    if not line.startswith("ghrm"):
        line = f"ghrm: error: {line}"
    try:
        err.write(line + "\n")
        err.flush()
    except (OSError, ValueError):
        pass
    return code


def _quiet_stdout() -> None:
    """After a closed pipe, stop Python from reporting the failed final flush of stdout."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
