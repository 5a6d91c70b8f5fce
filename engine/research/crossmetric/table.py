"""A cross-metric table (rows = heads or parameter groups, columns = metrics) and its Spearman matrix.

Spearman's rho is Pearson's correlation of ranks: it asks whether one metric orders the rows
like another, not whether they are linearly related. p-values are scipy's (t approximation);
with many pairs tested at once they are adjusted by Benjamini-Hochberg (false discovery rate).
rho is itself the effect size; each pair also gets a BCa bootstrap 95% interval for it (rows
resampled in pairs). Below MIN_N rows a correlation is flagged `small_n`: at n = 16 a rho of
0.5 is within noise of 0, so the table says so instead of letting a heatmap suggest otherwise.
A column with fewer than MIN_LEVELS distinct values (a weight-only metric repeated over the batches
of each model) gets no p-value and no interval (`few_levels`): its rows are copies, not samples,
and two such columns would otherwise "discover" rho = +-1 from two models.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

from engine.scratch.stats.bootstrap import bca

MIN_N = 30
MIN_LEVELS = 5   # a column with fewer distinct values gets no p-value (its rows are not independent draws)


def _spearman_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman rho along `axis` (vectorised, ties averaged): Pearson of average ranks."""
    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((rx * ry).sum(axis=axis) / den)


def _spearman1(x: np.ndarray, y: np.ndarray) -> float:
    return float(_spearman_along(x, y))


def rho_ci(x: np.ndarray, y: np.ndarray, n_resamples: int = 999, seed: int = 0,
           level: float = 0.95) -> tuple[float, float]:
    """BCa bootstrap interval of Spearman's rho, resampling (x_i, y_i) pairs (engine.scratch.stats.bootstrap.bca)."""
    res = bca((np.asarray(x, float), np.asarray(y, float)), _spearman1, n_resamples=n_resamples, level=level,
              rng=np.random.default_rng(seed))
    return res.low, res.high


def small_n_warning(n: int, what: str) -> str | None:
    """The loud line a results file carries when a correlation table has fewer than MIN_N rows."""
    if n >= MIN_N:
        return None
    return (f"WARNING: only {n} {what} (< {MIN_N}): Spearman correlations and their p-values are unreliable "
            f"at this n; read the bootstrap intervals, not the point estimates")


def spearman_pairs(table: dict[str, list[float]], n_resamples: int = 999, seed: int = 0,
                   ci_pairs: int | None = None) -> list[dict[str, float | str | bool]]:
    """One entry per unordered pair of columns: rho, raw p, BH-adjusted p, n, BCa CI, small_n flag.

    n_resamples = 0 skips the bootstrap (CI left NaN). ci_pairs = k bootstraps only the k pairs of
    largest |rho| (the ones a reader will look at; the rest keep NaN intervals and `ci: false`)."""
    names = list(table)
    rows: list[dict[str, float | str | bool]] = []
    for a, b in itertools.combinations(names, 2):
        x, y = np.asarray(table[a], float), np.asarray(table[b], float)
        lo = hi = float("nan")
        levels = min(len(np.unique(x)), len(np.unique(y)))
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            rho, p = float("nan"), float("nan")
        else:
            res = stats.spearmanr(x, y)
            rho, p = float(res.statistic), float(res.pvalue)
            if levels < MIN_LEVELS:      # e.g. a weight metric, constant within each model: n is really #models
                p = float("nan")
        rows.append({"a": a, "b": b, "pair": f"{a}~{b}", "rho": rho, "p": p, "n": len(x), "levels": levels,
                     "ci_low": lo, "ci_high": hi, "small_n": len(x) < MIN_N, "few_levels": levels < MIN_LEVELS})
    order = sorted((i for i, r in enumerate(rows) if np.isfinite(float(r["p"]))),
                   key=lambda i: -abs(float(rows[i]["rho"])))
    for i in order[: len(order) if ci_pairs is None else ci_pairs]:
        r = rows[i]
        if n_resamples and int(r["n"]) >= 4:
            r["ci_low"], r["ci_high"] = rho_ci(np.asarray(table[str(r["a"])], float),
                                               np.asarray(table[str(r["b"])], float), n_resamples, seed)
    ps = np.array([r["p"] for r in rows], float)
    ok = np.isfinite(ps)
    adj = np.full_like(ps, np.nan)
    if ok.any():
        adj[ok] = stats.false_discovery_control(ps[ok], method="bh")
    for r, q in zip(rows, adj, strict=True):
        r["p_bh"] = float(q)
    return rows


def spearman_matrix(table: dict[str, list[float]]) -> np.ndarray:
    names = list(table)
    m = np.eye(len(names))
    for r in spearman_pairs(table, n_resamples=0):
        i, j = names.index(str(r["a"])), names.index(str(r["b"]))
        m[i, j] = m[j, i] = float(r["rho"])
    return m
