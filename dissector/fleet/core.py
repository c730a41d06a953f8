"""``Fleet``: the Trace tables of many captures as Dask DataFrames, and answers across them.

Why this shape: every Trace table is a pure function of one capture, so a fleet is one Dask task
per capture (``build.build_capture``: ``dissector.open(path)``'s tables plus ``device``), and
each table is a Dask DataFrame with one partition per capture. The per-capture results are
persisted on the workers the first time a table is used, so asking for ``transactions`` and then
``findings`` reads each capture once. Aggregates reduce on the cluster and bring back a few rows
per device (see ``aggregates``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

import pandas as pd

from . import aggregates
from .build import FLEET_TABLES, build_capture, meta
from .scheduler import Runner
from .sources import CaptureSource, FleetError


class Fleet:
    """Tables of many captures (see the module docstring). Close it (or use ``with``) to stop the
    local cluster it started.

    Tables (Dask DataFrames, one partition per capture, ``capture`` and ``device`` columns):
    ``messages``, ``transactions``, ``srt``, ``errors``, ``lifecycles``, ``lifecycle_summary``,
    ``findings``, ``memparcels``, ``irqs``, ``problems``. Aggregates (pandas): ``fleet_srt()``,
    ``devices()``, ``boot_latency()``, ``slowest_devices()``, ``devices_by_failures()``.
    """

    def __init__(
        self,
        sources: Sequence[CaptureSource],
        runner: Runner,
        *,
        tables: Sequence[str] = FLEET_TABLES,
        dialect: str = "rm",
        engine: str = "auto",
        persist: bool = True,
        progress: TextIO | None = None,
    ) -> None:
        import dask

        unknown = [t for t in tables if t not in FLEET_TABLES]
        if unknown:
            raise FleetError(f"unknown table(s) {', '.join(unknown)}; tables: {', '.join(FLEET_TABLES)}")
        self.sources = list(sources)
        self.runner = runner
        self.tables = tuple(tables)
        self.progress = progress
        self._persist = persist
        self._persisted = False
        build = dask.delayed(build_capture, pure=True)
        self._parts = [build(s, self.tables, dialect, engine) for s in self.sources]
        self._frames: dict[str, Any] = {}
        self._answers: dict[tuple, pd.DataFrame] = {}  # aggregates: the tables never change

    # --- the tables ---------------------------------------------------------------------------
    def table(self, name: str) -> Any:
        """The Dask DataFrame of one table (``fleet.table("srt")`` is ``fleet.srt``)."""
        if name not in self.tables:
            hint = "" if name not in FLEET_TABLES else f"; this fleet was opened with tables={self.tables}"
            raise FleetError(f"fleet has no table {name!r}{hint}; tables: {', '.join(self.tables)}")
        if name not in self._frames:
            import dask
            import dask.dataframe as dd

            if self._persist:
                self.persist(wait=False)
            # Object columns (frame tuples) must stay Python objects, not Arrow strings.
            with dask.config.set({"dataframe.convert-string": False}):
                self._frames[name] = dd.from_delayed([p[name] for p in self._parts], meta=meta(name))
        return self._frames[name]

    def persist(self, wait: bool = True) -> Fleet:
        """Build every capture's tables now and keep them on the workers (once); with ``wait``,
        return when all are built."""
        if not self._persisted:
            self._parts = self.runner.persist(self._parts, progress=self.progress)
            self._persisted = True
        if wait:
            self.runner.wait(self._parts)
        return self

    def __getattr__(self, name: str) -> Any:
        if name in FLEET_TABLES:
            return self.table(name)
        raise AttributeError(f"Fleet has no attribute {name!r}")

    def compute(self, *names: str) -> tuple[pd.DataFrame, ...]:
        """Several tables as pandas frames in one pass (index 0..n-1)."""
        frames = self.runner.compute(*(self.table(n) for n in names), progress=self.progress)
        return tuple(f.reset_index(drop=True) for f in frames)

    @property
    def captures(self) -> pd.DataFrame:
        """One row per capture: ``capture`` (as in the tables), ``path``, ``device``,
        ``device_source`` (pattern/pcapng/folder)."""
        return pd.DataFrame(
            {
                "capture": [s.capture for s in self.sources],
                "path": [s.path for s in self.sources],
                "device": [s.device for s in self.sources],
                "device_source": [s.device_source for s in self.sources],
            }
        )

    @property
    def devices_list(self) -> list[str]:
        return sorted({s.device for s in self.sources})

    # --- aggregates ---------------------------------------------------------------------------
    def fleet_srt(self, exact_limit: int = aggregates.EXACT_SRT_LIMIT) -> pd.DataFrame:
        """SRT across every capture (schema ``SRT``); exact percentiles up to ``exact_limit``
        answered calls, Dask's approximate quantiles above (``attrs["exact"]`` says which)."""
        return self._memo(("fleet_srt", exact_limit), lambda: self._fleet_srt(exact_limit)).copy()

    def _fleet_srt(self, exact_limit: int) -> pd.DataFrame:
        tx = self.table("transactions")
        answered = aggregates.answered_calls(tx)
        (n,) = self.runner.compute(answered["latency"].count())
        if n <= exact_limit:
            (cols,) = self.runner.compute(tx[["name", "msg_id", "status", "latency"]])
            return aggregates.srt_exact(cols.reset_index(drop=True))
        calls = tx[tx["status"].isin(aggregates.ANSWERED + aggregates.UNANSWERED)]
        counts = (
            calls[["msg_id"]]
            .assign(
                calls=calls["status"].notnull().astype("int64"),  # every request, answered or not
                errors=(calls["status"] == "error").astype("int64"),
                unanswered=calls["status"].isin(aggregates.UNANSWERED).astype("int64"),
            )
            .groupby("msg_id")[["calls", "errors", "unanswered"]]
            .sum()
        )
        stats = answered.groupby("msg_id")["latency"].agg(["min", "mean", "max", "sum"])
        names = tx[["msg_id", "name"]].drop_duplicates()
        ids, counts, stats, names = self.runner.compute(answered["msg_id"].unique(), counts, stats, names)
        ids = sorted(int(i) for i in ids)
        quantiles = self.runner.compute(
            *(answered[answered["msg_id"] == i]["latency"].quantile(list(aggregates.QUANTILES)) for i in ids)
        )
        parts = {"counts": counts, "stats": stats, "names": names.astype({"name": str})}
        return aggregates.srt_table(parts, dict(zip(ids, quantiles, strict=True)))

    def devices(self) -> pd.DataFrame:
        """One row per device (schema ``dissector.fleet.schema.DEVICES``)."""
        return self._memo(("devices",), self._devices).copy()

    def _devices(self) -> pd.DataFrame:
        calls, findings, boots = self.runner.compute(
            aggregates.partial_calls(self.table("transactions")),
            aggregates.partial_findings(self.table("findings")),
            aggregates.boot_columns(self.table("lifecycle_summary")),
        )
        return aggregates.devices_table(calls, findings, boots, self._captures_per_device())

    def boot_latency(self) -> pd.DataFrame:
        """Boot-latency distribution per device (schema ``BOOT_LATENCY``), exact."""
        (boots,) = self.runner.compute(aggregates.boot_columns(self.table("lifecycle_summary")))
        return aggregates.boot_table(boots, self.devices_list)

    def slowest_devices(self, n: int = 10, by: str = "boot_p50") -> pd.DataFrame:
        """The ``n`` devices with the slowest median boot (or another ``devices()`` column)."""
        return aggregates.ranked(self.devices(), by, n)

    def devices_by_failures(self, n: int | None = None) -> pd.DataFrame:
        """Devices with the most error/warning findings first."""
        return aggregates.ranked(self.devices(), "failures", n)

    def _memo(self, key: tuple, make: Any) -> pd.DataFrame:
        if key not in self._answers:
            self._answers[key] = make()
        return self._answers[key]

    def _captures_per_device(self) -> dict[str, int]:
        return dict(Counter(s.device for s in self.sources))

    # --- plumbing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the local cluster this fleet started (a given scheduler is left running)."""
        self._frames.clear()
        self._answers.clear()
        self._parts = []
        self.runner.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Fleet {len(self.sources)} capture(s) from {len(self.devices_list)} device(s) "
            f"on {self.runner.description}>"
        )
