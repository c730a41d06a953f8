"""Work done beside the caller, in a forked child, where forking is safe.

Why: a ``ghrm`` command's tables form two independent branches (the ledgers' replays; the message
core, lifecycles and timing), and the machines it runs on have more than one core. A forked child
inherits the decoded columns for free (copy-on-write) and sends back only its small tables, pickled
into an anonymous in-memory file.

A child of a threaded process inherits the locks its other threads held at the fork, held by
threads that do not exist in it: a native thread (OpenBLAS's pool, jemalloc's purger, a notebook
kernel's ZeroMQ I/O) may hold one at any time. The only other threads ghrm runs are the progress
bar's (a timer; rich's refresh thread, which writes to the terminal): they run Python code, so
while this thread forks, holding the GIL, they wait for it or sit in a blocking call. What they may
hold is theirs (the bar's locks, the stream the bar writes to), and the child never uses those: it
writes through new ``sys.stdout``/``sys.stderr`` objects of its own. So a child is forked only when
every thread of this process (``/proc/self/task``) is a Python thread (``threading.enumerate``), on
Linux, never from a child, and never when ``GHRM_JOBS=1``. Elsewhere, or when the fork or the child
fails in any way (an exception, a signal, an unreadable answer), the work is done in the caller,
so that the result, and any error, is what the caller would have got by itself. A child dies with
its parent (``PR_SET_PDEATHSIG``): a parent killed by a signal leaves no orphan holding its pipes.

``ghrm`` (``dissector.cli.main``) keeps numpy's OpenBLAS and pyarrow's jemalloc from starting
threads of their own (``single_threaded_env``); a library caller that wants the same sets those
variables before importing numpy and pandas.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Generic, TypeVar

# pickle, signal, threading and warnings are imported where used: ``ghrm``'s start-up imports this
# module for ``single_threaded_env`` alone, in every command (``--help`` and ``decode`` too): ~2 ms

T = TypeVar("T")

# the variables that keep numpy's OpenBLAS (its wheels' pthreads build) and pyarrow's jemalloc from
# starting threads when they load: ghrm does no linear algebra, and the threads would forbid forking.
# Not OMP_NUM_THREADS: Arrow sizes its own pool by it (started only when used, and then seen here)
THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_in_child = False  # set in a child: a child forks no grandchild


def single_threaded_env(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``THREAD_ENV`` where the user has not set the variable (before numpy or pyarrow load)."""
    for key, value in THREAD_ENV.items():
        environ.setdefault(key, value)


def foreign_threads() -> int | None:
    """How many threads of this process are not Python threads (started by a native library);
    None where the kernel does not say (not Linux)."""
    import threading

    try:
        tasks = {int(t) for t in os.listdir("/proc/self/task")}
    except (OSError, ValueError):
        return None
    return len(tasks - {t.native_id for t in threading.enumerate()})


def can_fork() -> bool:
    """Whether a child may be forked now: Linux, no native thread, not in a child, and not
    refused by ``GHRM_JOBS=1`` (one process: what the work costs without a second core)."""
    if _in_child or os.environ.get("GHRM_JOBS", "").strip() == "1":
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork") and foreign_threads() == 0


class Beside(Generic[T]):
    """``work()`` started in a forked child when ``can_fork()``; ``answer()`` or ``result()``
    wait for it (only the process that forked it: a child inherits no claim on its sibling)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.forked = False
        self._owner = os.getpid()
        self._pid = 0
        self._fd = -1
        self._answer: tuple[T] | None = None
        if can_fork():
            self._start()

    def _start(self) -> None:
        try:
            fd = os.memfd_create("ghrm-beside", os.MFD_CLOEXEC)
        except OSError:  # memfd refused (a seccomp filter): no child
            return
        import warnings

        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns of any thread at a fork; the progress bar's are safe (above)
                warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                pid = os.fork()
        except OSError:  # no process to be had (EAGAIN, ENOMEM): the caller does the work
            os.close(fd)
            return
        if pid == 0:  # the child: never returns
            _child(self.work, fd, self._owner)
        self._pid, self._fd, self.forked = pid, fd, True

    def answer(self) -> tuple[T] | None:
        """``(result,)`` of the child's work, or None if no child was forked or it failed (raised,
        was killed, or its answer cannot be read). Asked again, the same answer."""
        if self.forked and os.getpid() == self._owner:
            self._answer = self._join()
        return self._answer

    def result(self) -> T:
        """The child's result, or, where there is none (see ``answer``), what ``work()`` returns
        or raises in this process now: its own run says why the child failed, or succeeds."""
        answer = self.answer()
        if answer is None:
            return self.work()
        return answer[0]

    def _join(self) -> tuple[T] | None:
        import pickle

        fd, self.forked = self._fd, False
        try:
            _, status = os.waitpid(self._pid, 0)
            if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                return None
            with os.fdopen(os.dup(fd), "rb") as f:
                f.seek(0)
                answer = pickle.load(f)
            return answer if isinstance(answer, tuple) and len(answer) == 1 else None
        except Exception:  # an unreadable answer: the work is redone here
            return None
        finally:
            os.close(fd)

    def __del__(self) -> None:
        """A child never joined (its caller failed or stopped): ended, and reaped."""
        if getattr(self, "forked", False) and os.getpid() == self._owner:
            import signal

            self.forked = False
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
                os.close(self._fd)
            except OSError:
                pass


def _child(work: Callable[[], object], fd: int, parent: int) -> None:
    """Run ``work`` and pickle ``(result,)`` into ``fd``; exit 0 on success, 1 on any failure,
    without running the parent's exit handlers or flushing its buffered output."""
    import pickle

    global _in_child
    _in_child = True
    code = 1
    try:
        _die_with(parent)
        # streams of its own: the parent's objects may hold a lock a thread of the parent took
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives until os._exit
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        result = work()
        with open(fd, "wb", closefd=False) as f:  # straight to the file: no second copy in memory
            pickle.dump((result,), f, protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    except BaseException:  # the parent redoes the work and sees the error itself
        code = 1
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with(parent: int) -> None:
    """Be killed when the parent dies (Linux ``prctl``), and go now if it is already gone."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):  # not glibc: no such call, live without it
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
