"""Where a fleet's tasks run: a local Dask cluster, an existing scheduler, or this process.

Why Dask's own machinery: a lab already running a Dask cluster points ghrm at it
(``tcp://host:8786``); a laptop gets a ``LocalCluster`` of worker processes (the per-capture
builders are CPU-bound Python, so threads would share one GIL); ``"synchronous"`` runs every
task in this process, in order, for a debugger or a profiler.

An unreachable scheduler raises ``FleetError`` after ``timeout`` seconds instead of hanging.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any, TextIO

import dask

from .sources import FleetError

DEFAULT_TIMEOUT = 5.0  # seconds to wait for a remote scheduler to answer
LOCAL_SCHEDULERS = ("synchronous", "threads")


class Runner:
    """Runs Dask collections on one scheduler and owns what it started (close it when done)."""

    def __init__(
        self, client: Any = None, cluster: Any = None, local: str | None = None, owned: bool = False
    ):
        self.client = client
        self.cluster = cluster
        self.local = local  # "synchronous"/"threads" when there is no distributed client
        self._owned = owned

    @property
    def description(self) -> str:
        if self.client is None:
            return f"Dask {self.local} scheduler (this process)"
        workers = len(self.client.scheduler_info().get("workers", {}))
        where = "local cluster" if self.cluster is not None else "scheduler"
        return f"Dask {where} {self.client.scheduler.address} ({workers} workers)"

    def compute(self, *collections: Any, progress: TextIO | None = None) -> tuple:
        """The results of ``collections``, computed together (shared tasks run once)."""
        if self.client is None:
            with _local_bar(progress):
                return dask.compute(*collections, scheduler=self.local)
        futures = self.client.compute(list(collections))
        _distributed_bar(futures, progress)
        return tuple(self.client.gather(futures))

    def persist(self, collections: Sequence[Any], progress: TextIO | None = None) -> list:
        """``collections`` computed and kept in the workers' memory (in this process if local)."""
        if self.client is None:
            with _local_bar(progress):
                return list(dask.persist(*collections, scheduler=self.local))
        persisted = self.client.persist(list(collections))
        _distributed_bar(persisted, progress)
        return list(persisted)

    def wait(self, collections: Sequence[Any]) -> None:
        """Return when persisted ``collections`` are in memory (they already are if local)."""
        if self.client is not None:
            from distributed import futures_of, wait

            wait(futures_of(list(collections)))

    def close(self) -> None:
        if not self._owned:
            return
        self._owned = False
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(scheduler: Any = None, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> Runner:
    """A ``Runner`` for ``scheduler``: None (a new LocalCluster of ``workers`` processes, default
    one per core), ``"synchronous"``/``"threads"``, an address (``tcp://host:8786``), a
    ``distributed.Client`` or a cluster object (anything with ``scheduler_address``)."""
    if workers is not None and workers < 1:
        raise FleetError(f"--workers must be at least 1, not {workers}")
    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        return Runner(local=scheduler)
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return Runner(client=scheduler)
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: never "8787 is already in use"
            silence_logs=logging.ERROR,
        )
        return Runner(client=Client(cluster), cluster=cluster, owned=True)
    if workers is not None:
        raise FleetError("--workers sizes the local cluster; a scheduler at an address has its own workers")
    address = getattr(scheduler, "scheduler_address", scheduler)
    if not isinstance(address, str):
        raise FleetError(
            f"scheduler must be an address, 'synchronous' or a distributed Client, not {scheduler!r}"
        )
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise FleetError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({exc}); "
            "check the address, or leave --scheduler out to start a local cluster"
        ) from None
    return Runner(client=client, owned=True)


@contextlib.contextmanager
def _local_bar(progress: TextIO | None) -> Any:
    if progress is None:
        yield
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(out=progress, dt=0.2):
        yield


def _distributed_bar(futures: Any, progress: TextIO | None) -> None:
    """Dask's text progress bar over ``futures``, drawn on ``progress`` (it blocks until done)."""
    if progress is None:
        return
    from distributed import progress as dask_progress

    with contextlib.redirect_stdout(progress):
        dask_progress(futures, notebook=False)
        progress.write("\n")
