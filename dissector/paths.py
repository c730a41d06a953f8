"""Inputs and outputs checked before any work starts, and outputs written all-or-nothing.

Why: a command that reads for a minute and then fails to write, or that truncates its own
input (``ghrm convert c.pcap -o c.pcap``), loses the user's data or time. Every subcommand's
paths are checked up front by ``validate_paths`` (the CLI calls it on the parsed arguments), and
``atomic_output`` writes through a temporary file in the destination's directory that is
renamed over the destination only when the writer finished, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator

from dissector.errors import InputError, OutputError

# Argument names (argparse ``dest``) that hold input paths and output paths, across subcommands.
INPUT_DESTS = ("files", "input", "inputs", "paths")
OUTPUT_DESTS = ("output", "hexlog")
STDIO = "-"


def check_input(path: str) -> None:
    """Raise ``InputError`` unless ``path`` is ``-`` or a readable file (not a directory)."""
    if path == STDIO:
        return
    if not path:
        raise InputError("ghrm: error: empty file name given as input")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"ghrm: error: cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"ghrm: error: cannot read {path}: it is a directory")
    if not os.access(path, os.R_OK):
        raise InputError(f"ghrm: error: cannot read {path}: permission denied")


def check_output(path: str, inputs: Iterable[str] = ()) -> None:
    """Raise ``OutputError`` unless ``path`` can be created or replaced, and is not an input."""
    if path == STDIO:
        return
    if not path:
        raise OutputError("ghrm: error: empty file name given as output")
    for source in inputs:
        if source != STDIO and source and _same_file(source, path):
            raise OutputError(f"ghrm: error: output {path} is the input {source}; refusing to overwrite it")
    if os.path.isdir(path):
        raise OutputError(f"ghrm: error: cannot write {path}: it is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputError(f"ghrm: error: cannot write {path}: {parent} is not a directory")
    if os.path.exists(path):
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if not os.access(path, os.W_OK):
                raise OutputError(f"ghrm: error: cannot write {path}: permission denied")
            return  # /dev/null, a pipe: written in place
        if not os.access(path, os.W_OK):
            raise OutputError(f"ghrm: error: cannot write {path}: permission denied")
    try:  # a real probe: access() says yes to root even where nothing can be created (/proc)
        fd, probe = tempfile.mkstemp(prefix=".ghrm-probe-", dir=parent)
    except OSError as exc:
        raise OutputError(f"ghrm: error: cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def validate_paths(args: argparse.Namespace) -> None:
    """Check every input and output path of parsed CLI arguments before the command runs."""
    inputs: list[str] = []
    for dest in INPUT_DESTS:
        inputs += _as_list(getattr(args, dest, None))
    if not getattr(args, "fleet", False):  # a fleet takes folders and globs, and resolves them itself
        for path in inputs:
            check_input(path)
    for dest in OUTPUT_DESTS:
        for path in _as_list(getattr(args, dest, None)):
            check_output(path, inputs)


def _named(exc: OSError, path: str) -> OSError:
    """``exc`` naming the destination the user gave (a write error carries no file name)."""
    if exc.filename or isinstance(exc, InputError):
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    Character devices and pipes (``/dev/null``) are written in place: they cannot be renamed.
    """
    target = os.fspath(path)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = 0
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        try:
            yield target
        except OSError as exc:
            raise _named(exc, target) from None
        return
    parent = os.path.dirname(os.path.abspath(target))
    suffix = os.path.splitext(target)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix + ".tmp", dir=parent)
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise _named(exc, target) from None
        if mode:
            os.chmod(tmp, stat.S_IMODE(mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
