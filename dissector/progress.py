"""A progress bar for the terminal: shown on stderr only when a step lasts more than a second.

Why opt-in and CLI-only: notebooks and scripts call the library and want no output on stderr;
a person waiting at a terminal for a big capture wants to see that something happens. The bar
appears after ``delay`` seconds (quick runs stay silent) and only when stderr is a terminal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

T = TypeVar("T")


class Progress:
    """``with Progress(err, total=3) as p: p.step("reading"); ...``: a delayed, transient bar."""

    def __init__(self, err: TextIO, total: int, *, delay: float = 1.0, enabled: bool | None = None) -> None:
        self.err = err
        self.total = total
        self.delay = delay
        self.enabled = _is_terminal(err) if enabled is None else enabled
        self._lock = threading.Lock()
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._done = 0
        self._timer: threading.Timer | None = None
        self.shown = False

    def __enter__(self) -> Progress:
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._timer is None:  # finished meanwhile
                return
            bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(file=self.err, force_terminal=True),
                transient=True,
            )
            self._task = bar.add_task(self._label, total=self.total, completed=self._done)
            bar.start()
            self._bar = bar
            self.shown = True

    def step(self, label: str) -> None:
        """Start the next step (the previous one is done)."""
        with self._lock:
            if self._label:
                self._done += 1
            self._label = label
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description=label, completed=self._done)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
        if timer is not None:  # gone when this returns: no thread left behind for no reason
            timer.join()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def reading_label(paths: Sequence[str]) -> str:
    return f"reading {len(paths)} captures" if len(paths) != 1 else f"reading {os.path.basename(paths[0])}"


def read_with_progress(err: TextIO, paths: Sequence[str], read: Callable[[], T]) -> T:
    """``read()`` under a progress bar that appears if it lasts more than a second on a terminal."""
    with Progress(err, total=1) as progress:
        progress.step(reading_label(paths))
        return read()
