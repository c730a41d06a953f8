"""``diff(base, new)``: did the RM get slower, or fail more, between two captures?

Why these tests: latencies are skewed and heavy-tailed, so a shift is judged by the Mann-Whitney U
test (no normality assumed) with its effect size, the rank-biserial correlation r (the chance
that a call of NEW is slower than one of BASE, minus the reverse: 0 none, +1 every NEW call
slower). Error rates are 2x2 tables (errors vs answered), judged by Fisher's exact test. Every
family of p-values is Holm-corrected, since a capture has dozens of calls and one would look
"significant" by chance. A call is flagged when its corrected p is below ``alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dissector.analysis import status

ALPHA = 0.01
PERCENTILES = (50, 90, 99)
ANSWERED = tuple(s.value for s in status.ANSWERED)  # a reply came: its latency counts
NOT_ANSWERED = tuple(s.value for s in status.NOT_ANSWERED)


@dataclass
class Diff:
    """The comparison as tables: ``calls`` (latency per call), ``errors`` (error rate per call),
    ``boots`` (boot latency per VM instance), and ``lines`` (the changes that matter, as text)."""

    calls: pd.DataFrame
    errors: pd.DataFrame
    boots: pd.DataFrame
    boot_test: dict[str, Any]
    alpha: float
    base_name: str
    new_name: str

    @property
    def significant(self) -> pd.DataFrame:
        """Calls whose latency shifted (corrected p < alpha)."""
        return self.calls[self.calls["significant"]]

    @property
    def changes(self) -> list[tuple[str, str]]:
        """(sentence, "worse" or "better") per significant change, most significant first."""
        out = [
            (str(r.summary), "worse" if r.effect_r > 0 else "better")
            for r in self.significant.sort_values(["p_adj", "effect_r"], key=_strongest).itertuples()
        ]
        out += [
            (str(r.summary), "worse" if r.rate_new > r.rate_base else "better")
            for r in self.errors[self.errors["significant"]].itertuples()
        ]
        if self.boot_test["significant"]:
            out.append((self.boot_test["summary"], "worse" if self.boot_test["effect_r"] > 0 else "better"))
        return out

    @property
    def lines(self) -> list[str]:
        """One sentence per significant change, most significant first."""
        return [text for text, _ in self.changes]


def _strongest(col: pd.Series) -> pd.Series:
    """Sort key: p ascending, then the larger effect first."""
    return -col.abs() if col.name == "effect_r" else col


def p_text(p: float) -> str:
    if math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _pct_change(a: float, b: float) -> float:
    return math.nan if not a or math.isnan(a) or math.isnan(b) else (b - a) / a * 100.0


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    values = p[ok]
    order = np.argsort(values)
    m = len(values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * values[i])
        adjusted[i] = min(1.0, running)
    out[ok] = adjusted
    return out


def _latencies(trace: Any) -> dict[str, np.ndarray]:
    tx = trace.transactions
    tx = tx[tx["status"].isin(ANSWERED) & tx["latency"].notna()]
    return {str(k): g["latency"].to_numpy(float) for k, g in tx.groupby("name", observed=True)}


def _call_rows(base: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for name in sorted(set(base) | set(new)):
        a, b = base.get(name, np.empty(0)), new.get(name, np.empty(0))
        row: dict[str, Any] = {"name": name, "n_base": len(a), "n_new": len(b)}
        for q in PERCENTILES:
            pa = float(np.percentile(a, q)) if len(a) else math.nan
            pb = float(np.percentile(b, q)) if len(b) else math.nan
            row[f"p{q}_base"], row[f"p{q}_new"], row[f"p{q}_change_pct"] = pa, pb, _pct_change(pa, pb)
        if len(a) >= 2 and len(b) >= 2 and not (np.array_equal(np.sort(a), np.sort(b))):
            u, p = stats.mannwhitneyu(b, a, alternative="two-sided")
            row["u"], row["p_value"] = float(u), float(p)
            row["effect_r"] = 2.0 * float(u) / (len(a) * len(b)) - 1.0
        else:  # identical samples (a capture against itself) or too few calls to test
            row["u"] = math.nan
            row["p_value"] = 1.0 if len(a) >= 2 and len(b) >= 2 else math.nan
            row["effect_r"] = 0.0 if len(a) >= 2 and len(b) >= 2 else math.nan
        rows.append(row)
    columns = ["name", "n_base", "n_new"]
    columns += [f"p{q}_{s}" for q in PERCENTILES for s in ("base", "new", "change_pct")]
    columns += ["u", "p_value", "effect_r"]
    return pd.DataFrame(rows, columns=columns)


def _call_summary(row: Any, alpha: float) -> str:
    change = row.p90_change_pct
    word = f"{change:+.0f} %" if not math.isnan(change) else "n/a"
    verdict = "" if row.significant else f" (not significant at {alpha:g})"
    return (
        f"{row.name} p90 {word} ({row.p90_base * 1e3:.3f} -> {row.p90_new * 1e3:.3f} ms), "
        f"p50 {row.p50_change_pct:+.0f} %, {p_text(row.p_adj)}, r = {row.effect_r:+.2f}, "
        f"n = {row.n_base}/{row.n_new}{verdict}"
    )


def _counts(trace: Any) -> pd.DataFrame:
    tx = trace.transactions
    tx = tx[tx["status"].isin((*ANSWERED, *NOT_ANSWERED))]
    if tx.empty:
        return pd.DataFrame(columns=["calls", "errors", "unanswered"])
    g = tx.assign(err=tx["status"] == "error", lost=tx["status"].isin(NOT_ANSWERED)).groupby(
        "name", observed=True
    )
    return pd.DataFrame({"calls": g.size(), "errors": g["err"].sum(), "unanswered": g["lost"].sum()})


def _error_rows(base: Any, new: Any, alpha: float) -> pd.DataFrame:
    a, b = _counts(base), _counts(new)
    names = sorted(set(a.index.astype(str)) | set(b.index.astype(str)))
    rows = []
    for name in names:
        ca = a.loc[name] if name in a.index else pd.Series({"calls": 0, "errors": 0, "unanswered": 0})
        cb = b.loc[name] if name in b.index else pd.Series({"calls": 0, "errors": 0, "unanswered": 0})
        fa, fb = int(ca["errors"] + ca["unanswered"]), int(cb["errors"] + cb["unanswered"])
        if fa == 0 and fb == 0:
            continue
        na, nb = int(ca["calls"]), int(cb["calls"])
        p = float(stats.fisher_exact([[fa, na - fa], [fb, nb - fb]])[1]) if na and nb else math.nan
        rows.append(
            {
                "name": name,
                "calls_base": na,
                "failed_base": fa,
                "rate_base": fa / na if na else math.nan,
                "calls_new": nb,
                "failed_new": fb,
                "rate_new": fb / nb if nb else math.nan,
                "p_value": p,
            }
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "name",
            "calls_base",
            "failed_base",
            "rate_base",
            "calls_new",
            "failed_new",
            "rate_new",
            "p_value",
        ],
    )
    df["p_adj"] = holm(df["p_value"].to_numpy(float)) if len(df) else []
    df["significant"] = (df["p_adj"] < alpha).astype(bool)
    df["summary"] = [
        f"{r.name} failed {r.failed_base}/{r.calls_base} -> {r.failed_new}/{r.calls_new} "
        f"({r.rate_base * 100:.1f} % -> {r.rate_new * 100:.1f} %), {p_text(r.p_adj)} (Fisher)"
        for r in df.itertuples()
    ]
    return df


def _boot_rows(base: Any, new: Any) -> pd.DataFrame:
    cols = ["vmid", "instance", "boot_base", "boot_new", "change_pct"]
    a = base.lifecycle_summary[["vmid", "instance", "boot_latency"]]
    b = new.lifecycle_summary[["vmid", "instance", "boot_latency"]]
    m = a.merge(b, on=["vmid", "instance"], how="outer", suffixes=("_base", "_new"))
    m = m.rename(columns={"boot_latency_base": "boot_base", "boot_latency_new": "boot_new"})
    m["change_pct"] = [_pct_change(x, y) for x, y in zip(m["boot_base"], m["boot_new"], strict=True)]
    return m[cols].sort_values(["vmid", "instance"]).reset_index(drop=True)


def _boot_test(boots: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """All boots of BASE against all boots of NEW (Mann-Whitney U), VMs matched or not."""
    a, b = boots["boot_base"].dropna().to_numpy(float), boots["boot_new"].dropna().to_numpy(float)
    out: dict[str, Any] = {"n_base": len(a), "n_new": len(b), "p_value": math.nan, "effect_r": math.nan}
    out["p50_base"] = float(np.median(a)) if len(a) else math.nan
    out["p50_new"] = float(np.median(b)) if len(b) else math.nan
    out["p50_change_pct"] = _pct_change(out["p50_base"], out["p50_new"])
    if len(a) >= 2 and len(b) >= 2 and np.array_equal(np.sort(a), np.sort(b)):
        out["p_value"], out["effect_r"] = 1.0, 0.0
    elif len(a) >= 2 and len(b) >= 2:
        u, p = stats.mannwhitneyu(b, a, alternative="two-sided")
        out["p_value"], out["effect_r"] = float(p), 2.0 * float(u) / (len(a) * len(b)) - 1.0
    out["significant"] = bool(out["p_value"] < alpha)
    out["summary"] = (
        f"boot latency p50 {out['p50_change_pct']:+.0f} % ({out['p50_base'] * 1e3:.3f} -> "
        f"{out['p50_new'] * 1e3:.3f} ms), {p_text(out['p_value'])}, n = {len(a)}/{len(b)}"
    )
    return out


def diff(base_trace: Any, new_trace: Any, *, alpha: float = ALPHA) -> Diff:
    """Compare two traces: latency per call (Mann-Whitney U, effect size r), error rates (Fisher),
    boot latency per VM. ``alpha`` is the family-wise level after Holm's correction."""
    calls = _call_rows(_latencies(base_trace), _latencies(new_trace))
    calls["p_adj"] = holm(calls["p_value"].to_numpy(float)) if len(calls) else []
    calls["significant"] = (calls["p_adj"] < alpha).astype(bool)
    calls["summary"] = [_call_summary(r, alpha) for r in calls.itertuples()]
    boots = _boot_rows(base_trace, new_trace)
    return Diff(
        calls=calls,
        errors=_error_rows(base_trace, new_trace, alpha),
        boots=boots,
        boot_test=_boot_test(boots, alpha),
        alpha=alpha,
        base_name=", ".join(base_trace.captures),
        new_name=", ".join(new_trace.captures),
    )
