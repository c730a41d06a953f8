"""Work done beside the caller, in a forked child, where forking is safe.

Why: a ``ghrm`` command's tables form two independent branches (the ledgers' replays; the message
core, lifecycles and timing), and the machines it runs on have more than one core. A forked child
inherits the decoded columns for free (copy-on-write) and sends back only its small tables, pickled
into an anonymous in-memory file.

A child of a threaded process inherits the locks its other threads held at the fork, held by
threads that do not exist in it: a native thread (OpenBLAS's pool, jemalloc's purger, a notebook
kernel's ZeroMQ I/O) may hold one at any time. A Python thread holds none the child needs: while
this thread forks it holds the GIL, so the others are waiting for it, or in a blocking call that
released it (the progress bar's timer and refresh threads sleep; the child never touches the
bar). So a child is forked only when every thread of this process (``/proc/self/task``) is a
Python thread (``threading.enumerate``), on Linux, and never when ``GHRM_JOBS=1``. Elsewhere, or
when the child fails in any way (an exception, a signal, an unreadable answer), the work is done
in the caller, so that the result, and any error, is what the caller would have got by itself.

``ghrm`` (``dissector.cli.main``) keeps numpy's OpenBLAS and pyarrow's jemalloc from starting
threads of their own (``single_threaded_env``); a library caller that wants the same sets those
variables before importing numpy and pandas.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Generic, TypeVar

T = TypeVar("T")

# the variables that keep numpy's OpenBLAS (its wheels' pthreads build) and pyarrow's jemalloc from
# starting threads when they load: ghrm does no linear algebra, and the threads would forbid forking.
# Not OMP_NUM_THREADS: Arrow sizes its own pool by it (started only when used, and then seen here)
THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def single_threaded_env(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set ``THREAD_ENV`` where the user has not set the variable (before numpy or pyarrow load)."""
    for key, value in THREAD_ENV.items():
        environ.setdefault(key, value)


def foreign_threads() -> int | None:
    """How many threads of this process are not Python threads (started by a native library);
    None where the kernel does not say (not Linux)."""
    try:
        tasks = {int(t) for t in os.listdir("/proc/self/task")}
    except (OSError, ValueError):
        return None
    return len(tasks - {t.native_id for t in threading.enumerate()})


def can_fork() -> bool:
    """Whether a child may be forked now: Linux, no native thread, and not ``GHRM_JOBS=1``."""
    if os.environ.get("GHRM_JOBS", "").strip() == "1":
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork") and foreign_threads() == 0


class Beside(Generic[T]):
    """``work()`` started in a forked child when ``can_fork()``; ``result()`` waits for it.

    ``result()`` gives what ``work()`` returned in the child, or, if no child was forked or the
    child failed (raised, was killed, or its answer cannot be read), what ``work()`` returns, or
    raises, when called in this process then."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.forked = False
        self._pid = 0
        self._fd = -1
        if can_fork():
            self._start()

    def _start(self) -> None:
        fd = os.memfd_create("ghrm-beside", os.MFD_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(self.work, fd)
        self._pid, self._fd, self.forked = pid, fd, True

    def result(self) -> T:
        """The work's result (see the class docstring); call it once."""
        if not self.forked:
            return self.work()
        answer = self._join()
        if answer is None:
            return self.work()  # the child failed: the caller's own run says why, or succeeds
        return answer[0]

    def _join(self) -> tuple[T] | None:
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
        if getattr(self, "forked", False):
            self.forked = False
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
                os.close(self._fd)
            except OSError:
                pass


def _child(work: Callable[[], object], fd: int) -> None:
    """Run ``work`` and pickle ``(result,)`` into ``fd``; exit 0 on success, 1 on any failure,
    without running the parent's exit handlers or flushing its buffered output."""
    code = 1
    try:
        data = pickle.dumps((work(),), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        code = 0
    except BaseException:  # the parent redoes the work and sees the error itself
        code = 1
    finally:
        os._exit(code)
