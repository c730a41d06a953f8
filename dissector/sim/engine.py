"""The discrete-event loop: integer-nanosecond time, a heap of callbacks, generator processes.

Why generators: the VM manager's boot sequence is a straight list of calls in protocol.md 8;
written as a generator that ``yield``s each call (and sleeps, and waits for notifications) the
code reads like that list, while the loop interleaves hundreds of them deterministically.
Ties in time are broken by scheduling order, so a seed always gives the same run. A process
may yield a bare ``int`` to sleep that many nanoseconds (the same as ``Sleep``, without the
object: the simulator does it once per call).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from heapq import heappop, heappush
from typing import Any

ProcessGen = Generator["Command | int", Any, Any]  # an int is a sleep in nanoseconds


class Engine:
    """Simulated clock and event heap."""

    def __init__(self, start_ns: int = 0) -> None:
        self.now = start_ns
        self._heap: list[tuple[int, int, Callable[[Any], None], Any]] = []
        self._n = 0
        self.stopped = False
        # called before time moves forward, when the first item of ``watch`` (a heap of
        # (time, ...) tuples, the wire's records) is earlier than the new time
        self.on_advance: Callable[[int], None] | None = None
        self.watch: list[Any] = []

    def at(self, when: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(arg)`` at ``when`` (ns); never earlier than now."""
        if when < self.now:
            when = self.now
        self._n += 1
        heappush(self._heap, (when, self._n, fn, arg))

    def after(self, delay: int, fn: Callable[[Any], None], arg: Any = None) -> None:
        self.at(self.now + delay, fn, arg)

    def spawn(self, gen: ProcessGen, name: str = "") -> Process:
        """Start a generator process now (at the current time, after what is already due)."""
        proc = Process(self, gen, name)
        self.at(self.now, proc.resume, None)
        return proc

    def run(self) -> None:
        """Run until nothing is scheduled or ``stop()`` was called."""
        heap = self._heap
        advance = self.on_advance
        watch = self.watch
        while heap and not self.stopped:
            when, _, fn, arg = heappop(heap)
            if when != self.now:
                if advance is not None and watch and watch[0][0] < when:
                    advance(when)
                    if self.stopped:
                        break
                self.now = when
            fn(arg)

    def stop(self) -> None:
        self.stopped = True


class Process:
    """A generator driven by the engine; each yielded ``Command`` says when to resume it."""

    __slots__ = ("cancelled", "done", "engine", "gen", "name")

    def __init__(self, engine: Engine, gen: ProcessGen, name: str = "") -> None:
        self.engine = engine
        self.gen = gen
        self.name = name
        self.done = False
        self.cancelled = False

    def resume(self, value: Any = None) -> None:
        if self.done or self.cancelled:
            return
        try:
            cmd = self.gen.send(value)
        except StopIteration:
            self.done = True
            return
        if isinstance(cmd, int):  # a bare number of nanoseconds: sleep (the hot path of Sleep)
            engine = self.engine
            engine.at(engine.now + cmd, self.resume, None)
        else:
            cmd.start(self)

    def cancel(self) -> None:
        """Stop for good: pending wake-ups become no-ops (a VM that stopped runs nothing)."""
        self.cancelled = True
        self.gen.close()


class Command:
    """Something a process waits for."""

    def start(self, proc: Process) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Sleep(Command):
    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = max(0, int(ns))

    def start(self, proc: Process) -> None:
        proc.engine.after(self.ns, proc.resume, None)


class Signal:
    """Something that happens (a VM_STATUS, an exit) that processes can wait for."""

    __slots__ = ("_waiters", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._waiters: list[_Waiter] = []

    def fire(self, value: Any = True) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.wake(value)

    def wait(self, timeout_ns: int | None = None) -> Wait:
        return Wait(self, timeout_ns)


class _Waiter:
    __slots__ = ("proc", "woken")

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self.woken = False

    def wake(self, value: Any) -> None:
        if not self.woken:
            self.woken = True
            self.proc.resume(value)


class Wait(Command):
    """Resume with the signal's value, or with ``None`` after ``timeout_ns``."""

    __slots__ = ("signal", "timeout_ns")

    def __init__(self, signal: Signal, timeout_ns: int | None) -> None:
        self.signal = signal
        self.timeout_ns = timeout_ns

    def start(self, proc: Process) -> None:
        waiter = _Waiter(proc)
        self.signal._waiters.append(waiter)
        if self.timeout_ns is not None:
            proc.engine.after(max(0, self.timeout_ns), waiter.wake, None)
