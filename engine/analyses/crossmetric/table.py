"""A cross-metric table (rows = heads or parameter groups, columns = metrics) and its Spearman matrix.

Spearman's rho is Pearson's correlation of ranks: it asks whether one metric orders the rows
like another, not whether they are linearly related. p-values are scipy's (t approximation);
with many pairs tested at once they are adjusted by Benjamini-Hochberg (false discovery rate).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats


def spearman_pairs(table: dict[str, list[float]]) -> list[dict[str, float | str | bool]]:
    """One entry per unordered pair of columns: rho, raw p, BH-adjusted p, and n."""
    names = list(table)
    rows: list[dict[str, float | str | bool]] = []
    for a, b in itertools.combinations(names, 2):
        x, y = np.asarray(table[a], float), np.asarray(table[b], float)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            rho, p = float("nan"), float("nan")
        else:
            res = stats.spearmanr(x, y)
            rho, p = float(res.statistic), float(res.pvalue)
        rows.append({"a": a, "b": b, "pair": f"{a}~{b}", "rho": rho, "p": p, "n": len(x)})
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
    for r in spearman_pairs(table):
        i, j = names.index(str(r["a"])), names.index(str(r["b"]))
        m[i, j] = m[j, i] = float(r["rho"])
    return m
