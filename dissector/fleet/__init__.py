"""Fleets: the tables of many captures on Dask, and answers across devices.

Why Dask: a lab booting VMs on hundreds of devices every night needs "VM_START p99 across the
fleet" or "which devices fail most", and one machine runs out long before the fleet does. Every
Trace table is a pure function of one capture, so a fleet is one Dask task per capture on any
Dask scheduler: a local cluster of worker processes (default), an existing one
(``scheduler="tcp://host:8786"``; workers must see the files at the same paths) or
``"synchronous"`` for debugging.

::

    import dissector
    with dissector.fleet("nightly/*/*.pcapng") as fleet:     # folder = device
        fleet.transactions                                   # Dask DataFrame, + device column
        fleet.fleet_srt()                                    # pandas: SRT across the fleet
        fleet.devices()                                      # per device: error rate, failures, boots
        fleet.slowest_devices(5)

``dissector.fleet`` is this module and also the function (the module is callable), so both
``dissector.fleet(...)`` and ``from dissector.fleet import Fleet`` work. Needs the ``fleet``
extra: ``pip install 'ghrm[fleet]'``.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Sequence
from typing import Any, TextIO

from .sources import CaptureSource, FleetError, expand, name_devices

__all__ = ["CaptureSource", "Fleet", "FleetError", "fleet"]

FLEET_EXTRA_HINT = "the fleet needs Dask: pip install 'ghrm[fleet]' (dask[dataframe] and distributed)"


def fleet(
    paths_or_globs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    scheduler: Any = None,
    *,
    workers: int | None = None,
    device_from: str | re.Pattern[str] | None = None,
    tables: Sequence[str] | None = None,
    dialect: str = "rm",
    engine: str = "auto",
    persist: bool = True,
    timeout: float | None = None,
    progress: TextIO | None = None,
) -> Any:
    """A ``Fleet`` of the captures named by paths, globs and folders.

    ``scheduler``: None (a new LocalCluster, ``workers`` processes, default one per core), an
    address ``tcp://host:8786``, ``"synchronous"``, or a ``distributed.Client``. ``device_from``:
    a regex whose ``device`` group (or first group) names each capture's device (default: pcapng
    ``shb_hardware``/``if_hardware``, else the file's folder). ``tables``: build only these
    (default all; fewer saves worker memory). ``persist``: keep the per-capture tables on the
    workers after first use. ``timeout``: seconds to wait for a remote scheduler (default 5).
    ``progress``: a stream for Dask's progress bar.
    """
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise FleetError(FLEET_EXTRA_HINT) from None
    from dissector.protocol.dialects import get_dialect

    from .build import FLEET_TABLES
    from .core import Fleet
    from .scheduler import DEFAULT_TIMEOUT, connect

    get_dialect(dialect)
    sources = name_devices(expand(paths_or_globs), device_from)
    runner = connect(scheduler, workers, DEFAULT_TIMEOUT if timeout is None else timeout)
    try:
        return Fleet(
            sources,
            runner,
            tables=FLEET_TABLES if tables is None else tuple(tables),
            dialect=dialect,
            engine=engine,
            persist=persist,
            progress=progress,
        )
    except BaseException:
        runner.close()
        raise


def __getattr__(name: str) -> Any:
    if name == "Fleet":
        from .core import Fleet

        return Fleet
    raise AttributeError(f"module 'dissector.fleet' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Lets ``dissector.fleet(...)`` call ``fleet`` although ``dissector.fleet`` is this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return fleet(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
