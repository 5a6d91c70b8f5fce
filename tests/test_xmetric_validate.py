"""xmetric-validate in quick mode, its breaks, and unit checks of the estimators on tiny cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from engine.core.run import MemoryRecorder
from engine.labs import xmetric_validate
from engine.research.crossmetric import cka, curvature, table

ROOT = Path(__file__).resolve().parents[1]


def _cfg(**extra: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "experiments" / "xmetric-validate.yaml").read_text())
    return {**spec["config"], **spec["quick"], "seed": 42, "fault": None, "quick": True, "device": "cpu", **extra}


def test_validate_quick_passes_every_hard_check() -> None:
    rec = MemoryRecorder()
    out = xmetric_validate.validate(_cfg(), rec)
    assert out["fisher_true_rel_err"] < 1e-10 and out["fisher_full_rel_err"] < 1e-10
    assert out["hessian_eq_fisher_rel_err"] < 1e-10 and out["fisher_mc_rel_err"] < 0.06
    assert out["hvp_rel_err"] < 1e-10 and out["trace_z"] < 4 and out["trace_rel_err"] < 0.1
    assert out["power_rel_err"] < 1e-6 and out["lanczos_top3_rel_err"] < 1e-8
    assert abs(out["cka_orthogonal"] - 1) < 1e-10 and abs(out["dcka_orthogonal"] - 1) < 1e-10
    assert out["cka_null_biased"] > 0.5 > 0.05 > out["cka_null_debiased_abs"]
    assert out["ablation_gate_vs_weights"] < 1e-12 and out["dead_head_ablation"] == 0.0
    assert out["dead_head_gate_fisher"] == 0.0 < out["live_head_min_gate_fisher"]
    assert {r.get("probe") for r in rec.records if r.get("stage") == "hutchinson"} >= {"rademacher", "gaussian"}


def test_breaks_trip_their_checks() -> None:
    cheap = {"fisher_mc": 5, "probes": 200}
    out = xmetric_validate.validate(_cfg(fault="uniform_probes", sections=["curvature"], **cheap), MemoryRecorder())
    assert out["trace_z"] > 4
    # The estimate converges to what the wrong probes measure, not to the trace.
    assert abs(out["trace_hutchinson"] - out["uniform_probe_expectation"]) < 0.1 * abs(out["uniform_probe_expectation"])
    assert xmetric_validate.validate(_cfg(fault="shuffled_rows", sections=["cka"], **cheap), MemoryRecorder())["cka_orthogonal"] < 0.5
    assert xmetric_validate.validate(_cfg(fault="empirical_as_true", sections=["fisher"], **cheap), MemoryRecorder())["fisher_true_rel_err"] > 0.1


def test_hutchinson_is_exact_for_a_diagonal_matrix_with_rademacher_probes() -> None:
    d = torch.arange(1.0, 6.0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    samples, diag = curvature.hutchinson(lambda v: v * d, d, 7, gen)
    assert torch.allclose(samples, torch.full_like(samples, 15.0)) and torch.allclose(diag, d)


def test_lanczos_and_power_iteration_on_a_known_spectrum() -> None:
    q, _ = torch.linalg.qr(torch.randn(50, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    eig = torch.linspace(-1.0, 1.0, 50, dtype=torch.float64)
    eig[-1] = 5.0
    h = q @ torch.diag(eig) @ q.T
    gen = torch.Generator().manual_seed(2)
    lam, _ = curvature.power_iteration(lambda v: h @ v, eig, gen)
    assert abs(lam - 5.0) < 1e-8
    assert abs(float(curvature.lanczos(lambda v: h @ v, eig, gen, m=50)[0]) - 5.0) < 1e-10


def test_cka_of_a_representation_with_itself_and_with_noise() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(100, 8, generator=gen, dtype=torch.float64)
    assert abs(cka.linear_cka(x, x) - 1) < 1e-12
    assert cka.linear_cka(x, torch.randn(100, 8, generator=gen, dtype=torch.float64)) < 0.3


def test_spearman_pairs_and_fdr() -> None:
    rows = table.spearman_pairs({"a": [1, 2, 3, 4, 5], "b": [2, 4, 6, 8, 11], "c": [5, 4, 3, 2, 1]})
    by = {r["pair"]: r for r in rows}
    assert abs(by["a~b"]["rho"] - 1.0) < 1e-12 and abs(by["a~c"]["rho"] + 1.0) < 1e-12
    assert all(r["p_bh"] >= r["p"] for r in rows)
