"""Drift between the training token distribution and today's traffic: KL and PSI.

KL(P||Q) in nats with add-alpha smoothing of both count vectors over the vocabulary. PSI over B
buckets: sum (Q_i - P_i) ln(Q_i / P_i), i.e. KL(Q||P) + KL(P||Q) on the bucketed masses. Token PSI
uses 15 frequency-stratified buckets (top 20 tokens in 5 of 4, the next 200 in 5 of 40, the tail
in 5); grid PSI uses the 15 tense x person cells. PSI >= 0.25 is an alert, 0.10-0.25 moderate.
KL over ~2000 tokens is dominated by tokens a small sample never saw, so it is reported with a
sample-size warning and PSI alerts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PSI_MODERATE, PSI_ALERT = 0.10, 0.25
MIN_SAMPLE = 1000


def zipf(v: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, v + 1, dtype=np.float64) ** s
    return w / w.sum()


def ood(v: int) -> np.ndarray:
    """Traffic from elsewhere: mass on what training saw rarely (the Zipf ranks reversed)."""
    return zipf(v)[::-1].copy()


def mixture_sample(rng: np.random.Generator, p: np.ndarray, r: np.ndarray, rho: float, n: int) -> np.ndarray:
    from_r = rng.random(n) < rho
    return np.where(from_r, rng.choice(len(r), n, p=r), rng.choice(len(p), n, p=p))


def kl(p_counts: np.ndarray, q_counts: np.ndarray, alpha: float) -> float:
    p = (p_counts + alpha) / (p_counts.sum() + alpha * len(p_counts))
    q = (q_counts + alpha) / (q_counts.sum() + alpha * len(q_counts))
    return float(np.sum(p * np.log(p / q)))


def psi(p_mass: np.ndarray, q_mass: np.ndarray, eps: float = 1e-6) -> float:
    p = (p_mass + eps) / (p_mass + eps).sum()
    q = (q_mass + eps) / (q_mass + eps).sum()
    return float(np.sum((q - p) * np.log(q / p)))


def token_buckets(train_counts: np.ndarray) -> np.ndarray:
    """Bucket index per token id, by training frequency rank: 5x4, 5x40, then the tail in 5."""
    order = np.argsort(-train_counts, kind="stable")
    bucket = np.empty(len(order), dtype=np.int64)
    tail = np.array_split(order[220:], 5)
    groups = [order[i * 4:(i + 1) * 4] for i in range(5)] + [order[20 + i * 40:20 + (i + 1) * 40] for i in range(5)] + tail
    for b, ids in enumerate(groups):
        bucket[ids] = b
    return bucket


def bucket_mass(counts: np.ndarray, bucket: np.ndarray, n_buckets: int = 15) -> np.ndarray:
    return np.bincount(bucket, weights=counts, minlength=n_buckets) / counts.sum()


def level(value: float) -> str:
    return "alert" if value >= PSI_ALERT else "moderate" if value >= PSI_MODERATE else "quiet"


def drift_check(report: dict[str, float], out: Path) -> int:
    """Write the report; exit 1 (and an alert line) when any PSI reaches the alert level."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift_report.json").write_text(json.dumps(report, indent=1, sort_keys=True), encoding="utf-8")
    alerts = {k: v for k, v in report.items() if k.endswith("psi") and v >= PSI_ALERT}
    if alerts:
        with open(out / "alerts.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(alerts, sort_keys=True) + "\n")
    return 1 if alerts else 0


def drift_scores(train: np.ndarray, today: np.ndarray, bucket: np.ndarray, cell: np.ndarray,
                 alpha: float) -> dict[str, float]:
    """KL(train || today) on smoothed token counts, token PSI over the frequency buckets, grid PSI over cells."""
    return {"kl": kl(train, today, alpha),
            "token_psi": psi(bucket_mass(train, bucket), bucket_mass(today, bucket)),
            "grid_psi": psi(bucket_mass(train, cell), bucket_mass(today, cell))}


def scipy_gaps(train: np.ndarray, today: np.ndarray, scores: dict[str, float], bucket: np.ndarray,
               cell: np.ndarray, alpha: float) -> tuple[float, float]:
    """|ours - scipy| for KL and (the larger of the two) PSI: scipy's entropy on the smoothed counts, and
    PSI = KL(Q||P) + KL(P||Q) on eps-smoothed bucket masses summed token by token with np.add.at."""
    from scipy import stats

    kl_gap = abs(scores["kl"] - float(stats.entropy(train + alpha, today + alpha)))
    psi_gap = 0.0
    for key, groups in (("token_psi", bucket), ("grid_psi", cell)):
        pm, qm = np.zeros(groups.max() + 1), np.zeros(groups.max() + 1)
        np.add.at(pm, groups, train)
        np.add.at(qm, groups, today)
        pm, qm = pm / train.sum() + 1e-6, qm / today.sum() + 1e-6
        psi_gap = max(psi_gap, abs(scores[key] - float(stats.entropy(qm, pm) + stats.entropy(pm, qm))))
    return kl_gap, psi_gap
