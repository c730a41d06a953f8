"""``ghrm report --fleet``: one self-contained HTML page for a fleet owner.

Why a page of its own: a capture's report tells one story; a fleet page must say which devices
need a look. It holds a per-device table, the fleet SRT, devices ranked by failures and by boot
latency (tables and pictures), and one mini VM timeline per device (its captures' lifecycles,
the devices with most failures first). Numbers come from the same ``Fleet`` aggregates as
``ghrm stats|errors|findings|lifecycle --fleet``; styling from ``dissector.display`` and the
capture report's stylesheet, so both pages read alike.
"""

from __future__ import annotations

import base64
import html
import io
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from dissector.display import style

from . import plots
from .aggregates import ranked

MAX_TIMELINES = 24  # devices with a mini timeline (most failures first)
RANKED = 10  # rows of the ranked tables

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}
.timelines {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 0.8em; }}
.timelines figure {{ margin: 0; }}
</style>
</head>
<body>
<header><h1>{title}</h1>
<div class="meta">{scope}; times in ms unless labelled;
timelines in s since each capture's start</div></header>
<nav><a href="#devices">Devices</a><a href="#failures">By failures</a><a href="#boots">By boot latency</a>
<a href="#srt">Fleet SRT</a><a href="#timelines">Timelines</a></nav>
<main>
<section id="verdict"><h2>Verdict</h2><ul class="verdict">{verdict}</ul></section>
<section id="devices"><h2>Devices</h2>{devices}
<p class="note">requests: answered, unanswered or retransmitted calls; rate: error replies / answered calls;
failures: error + warning findings (their occurrences).</p></section>
<section id="failures"><h2>Devices ranked by failures</h2>{by_failures}{failures_figure}</section>
<section id="boots"><h2>Devices ranked by boot latency</h2>
<p class="note">Boot latency: VM_ALLOCATE request to first RUNNING, per VM instance.</p>
{by_boot}{boot_figure}</section>
<section id="srt"><h2>Service response time across the fleet</h2>
<p class="note">{srt_note}</p>{srt}{start_figure}</section>
<section id="timelines"><h2>Per-device VM timelines</h2>
<p class="note">{timeline_note}</p><div class="timelines">{timelines}</div></section>
</main>
</body>
</html>
"""


def write_fleet_report(fleet: Any, path: str | Path, title: str | None = None) -> Path:
    """Write the fleet page to ``path`` (HTML) and return it."""
    out = Path(path)
    out.write_text(fleet_html(fleet, title), encoding="utf-8")
    return out


def fleet_html(fleet: Any, title: str | None = None) -> str:
    devices = fleet.devices()
    boots = fleet.boot_latency()
    srt = fleet.fleet_srt()
    summary, lifecycles = fleet.compute("lifecycle_summary", "lifecycles")
    scope = _scope(fleet)
    title = title or f"ghrm fleet report: {scope}"
    by_failures = ranked(devices, "failures", RANKED)
    by_boot = boots.sort_values(["p50", "device"], ascending=[False, True], na_position="last").head(RANKED)
    timelines, note = _timelines(fleet, devices, lifecycles)
    exact = srt.attrs.get("exact", True)
    return _PAGE.format(
        title=html.escape(title),
        css=resources.files("dissector.report").joinpath("templates/report.css").read_text(encoding="utf-8"),
        scope=html.escape(scope),
        verdict=_verdict(devices),
        devices=_table(_devices_view(devices)),
        by_failures=_table(_devices_view(by_failures)),
        failures_figure=_figure(
            plots.plot_failures_by_device, devices, "Error and warning findings per device"
        ),
        by_boot=_table(_ms(by_boot, ["min", "mean", "p50", "p90", "p99", "max"])),
        boot_figure=_figure(plots.plot_boot_latency_by_device, summary, "Boot latency per device"),
        srt_note="exact percentiles over every answered call"
        if exact
        else "p50/p90/p99 are Dask's approximate quantiles (more answered calls than the exact limit)",
        srt=_table(_ms(srt, ["min", "mean", "p50", "p90", "p99", "max"]).drop(columns=["sum"])),
        start_figure=_figure(
            lambda tx, ax: plots.plot_call_latency_by_device(tx, "VM_START", ax=ax),
            fleet,
            "VM_START latency per device",
        ),
        timeline_note=html.escape(note),
        timelines=timelines,
    )


def _scope(fleet: Any) -> str:
    n, d = len(fleet.sources), len(fleet.devices_list)
    return f"{n} capture{'s' * (n != 1)} from {d} device{'s' * (d != 1)}"


def _verdict(devices: pd.DataFrame) -> str:
    items = []
    failing = devices[devices["failures"] > 0]
    if len(failing):
        worst = ranked(devices, "failures", 3)
        names = ", ".join(f"{r.device} ({r.failures})" for r in worst.itertuples() if r.failures)
        items.append(("failed", f"{len(failing)} of {len(devices)} devices have failures; most: {names}"))
    else:
        items.append(("clean", f"no device has error or warning findings ({len(devices)} devices)"))
    booted = devices[devices["boot_p50"].notna()]
    if len(booted) > 1:
        median = float(booted["boot_p50"].median())
        slow = booted[booted["boot_p50"] > 2 * median]
        if len(slow):
            names = ", ".join(f"{r.device} ({r.boot_p50 * 1e3:.1f} ms)" for r in slow.itertuples())
            items.append(("slow", f"median boot over twice the fleet's ({median * 1e3:.1f} ms): {names}"))
    errors = devices[devices["errors"] > 0]
    if len(errors):
        worst = ranked(devices, "error_rate", 1).iloc[0]
        items.append(
            ("errors", f"{len(errors)} devices got error replies; highest rate {worst.device} "
             f"({worst.error_rate:.1%} of {worst.requests} requests)")
        )  # fmt: skip
    return "".join(
        f'<li class="{cls}"><span class="status">{cls}</span>{html.escape(text)}</li>' for cls, text in items
    )


def _devices_view(devices: pd.DataFrame) -> pd.DataFrame:
    view = devices.copy()
    view["error_rate"] = [f"{x:.2%}" if pd.notna(x) else "-" for x in view["error_rate"]]
    return _ms(view, ["mean_latency", "boot_p50", "boot_max"])


def _ms(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    view = df.copy()
    for c in columns:
        view[c] = [f"{x * 1e3:.3f}" if pd.notna(x) else "-" for x in view[c]]
    return view.rename(columns={c: f"{c} (ms)" for c in columns})


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return '<p class="note">Nothing to show.</p>'
    return style(df.reset_index(drop=True)).hide(axis="index").to_html()


def _figure(draw: Any, data: Any, caption: str, size: tuple[float, float] | None = None) -> str:
    from dissector.plots.style import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=size or (9, 4), layout="constrained")
    try:
        draw(data, ax=ax)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    except Exception as exc:  # a picture must not take the page down with it
        return f'<p class="note">picture not drawn: {html.escape(str(exc))}</p>'
    finally:
        plt.close(fig)
    uri = "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue().encode()).decode()
    text = html.escape(caption)
    return f'<figure><img src="{uri}" alt="{text}"><figcaption>{text}</figcaption></figure>'


def _timelines(fleet: Any, devices: pd.DataFrame, lifecycles: pd.DataFrame) -> tuple[str, str]:
    from dissector.plots import plot_lifecycle_timeline

    order = list(ranked(devices, "failures")["device"])
    shown = order[:MAX_TIMELINES]
    note = (
        "Each device's VM instances (one lane each, 'N:' numbers the device's captures), states "
        "coloured as in every ghrm plot; devices with most failures first."
    )
    if len(order) > len(shown):
        note += f" The first {len(shown)} of {len(order)} devices."
    parts = []
    for device in shown:
        rows = lifecycles[lifecycles["device"].astype(str) == device]
        if rows.empty:
            parts.append(f'<figure><p class="note">{html.escape(device)}: no VM lifecycle</p></figure>')
            continue
        lanes = rows.groupby(["capture", "vmid", "instance"], observed=True).ngroups
        height = 1.1 + 0.22 * min(lanes, 24)
        parts.append(
            _figure(
                lambda table, ax, device=device: (
                    plot_lifecycle_timeline(table, ax=ax),
                    ax.set_title(device),
                ),
                rows.reset_index(drop=True),
                f"{device}: VM lifecycles",
                size=(6.5, height),
            )
        )
    return "".join(parts), note
