"""xmetric-correlate on a cut-down config (2 seeds, 30 steps), plus the pieces it is built from."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from scipy import stats

from engine.core.run import MemoryRecorder
from engine.labs import xmetric_correlate
from engine.research.crossmetric import cka, heads, table, verbs_lm
from engine.research.crossmetric.models import TinyConfig, TinyTransformer

ROOT = Path(__file__).resolve().parents[1]


def _cfg(**extra: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "experiments" / "xmetric-correlate.yaml").read_text())
    return {**spec["config"], **spec["quick"], "seed": 42, "fault": None, "quick": True, "device": "cpu", **extra}


@pytest.mark.slow  # 15-23 s on an idle 2-core box: over the default run's 20 s line
def test_correlate_small_run_produces_a_complete_table() -> None:
    rec = MemoryRecorder()
    out = xmetric_correlate.correlate(_cfg(steps=30, probes=4, hess_seqs=16, scope_batches=2, ci_pairs=5), rec)
    assert out["n_heads"] == 16 and out["tables_finite"]
    assert out["final_loss_max"] < out["unigram_loss"]
    assert abs(out["cka_layers_diag"] - 1) < 1e-9 and out["cka_cross_seed_mean"] > 0.3
    assert all(-1 <= out[f"rho_ablation_{m}"] <= 1 for m in xmetric_correlate.HEAD_METRICS[1:])
    pairs = json.loads((rec.out_dir / "spearman.json").read_text())
    n = len(xmetric_correlate.HEAD_METRICS)
    assert len(pairs["heads"]) == n * (n - 1) // 2
    assert {r["stage"] for r in rec.records} >= {"train", "heads", "rho_ablation", "cka_layers", "cka_seeds"}
    assert (rec.out_dir / "spearman_heads.png").stat().st_size > 0
    assert out["correlation_n"] == 16 and not out["correlation_n_ok"]
    assert "WARNING" in out["correlation_warning"] and any("WARNING" in n for n in rec.notes)
    for r in pairs["heads"]:
        if math.isfinite(r["rho"]):
            assert r["small_n"] and r["ci_low"] <= r["rho"] <= r["ci_high"]
    assert (rec.out_dir / "discovery.csv").read_text().count("\n") == 1 + sum(len(v) for v in pairs.values())
    assert out["n_metrics"] == len(out["metrics"]) >= 40 and out["scope_finite"]
    assert not any(r["p_bh"] < 0.05 for r in pairs["scope"] if r["few_levels"])   # copies are not discoveries
    assert (rec.out_dir / "discovery_scope.png").stat().st_size > 0


def test_vectorised_spearman_matches_scipy_with_ties_and_ci_covers() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=(5, 40)).astype(float)          # many ties
    y = x + rng.integers(0, 3, size=(5, 40))
    ref = [stats.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    assert np.allclose(table._spearman_along(x, y), ref, atol=1e-12)
    lo, hi = table.rho_ci(x[0], y[0])
    assert lo < ref[0] < hi and hi - lo < 0.6
    assert table.small_n_warning(30, "rows") is None and "29" in str(table.small_n_warning(29, "rows"))


def test_shuffling_rows_destroys_cka_but_rotation_does_not() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 16, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen))
    assert cka.linear_cka(a, a @ q) > 1 - 1e-9
    assert cka.linear_cka(a, (a @ q)[torch.randperm(300, generator=gen)]) < 0.2


def test_gate_gradient_predicts_small_gate_changes() -> None:
    """d loss / d gate from the per-sequence gradients matches a finite difference of the loss."""
    xs, ys, vocab = verbs_lm.corpus()
    torch.manual_seed(0)
    model = TinyTransformer(TinyConfig(vocab_size=len(vocab), n_ctx=xs.shape[1], n_layers=1)).double().eval()
    logp = verbs_lm.seq_logp(model)
    g = heads.gate_grads(model, logp, xs, ys).sum(0) / (ys >= 0).sum()  # d mean-loss / d gate = -sum / tokens
    eps = 1e-6
    with torch.no_grad():
        model.head_gate[0, 1] += eps
        up = float(verbs_lm.mean_loss(model(xs), ys))
        model.head_gate[0, 1] -= 2 * eps
        down = float(verbs_lm.mean_loss(model(xs), ys))
    assert math.isclose(-float(g[0, 1]), (up - down) / (2 * eps), rel_tol=1e-5, abs_tol=1e-9)
