"""The three BK experiments in quick mode, called directly with a MemoryRecorder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.run import MemoryRecorder
from engine.labs import bk_gradcheck, bk_lm, bk_scaling
from engine.research.bk import compare

ROOT = Path(__file__).resolve().parents[1]


def _cfg(name: str, **extra: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    return {**spec.get("config", {}), **spec.get("quick", {}), "seed": 42, "fault": None, "quick": True,
            "device": "cpu", **extra}


def test_gradcheck_quick() -> None:
    rec = MemoryRecorder()
    out = bk_gradcheck.gradients(_cfg("bk-gradcheck"), rec)
    assert out["forward_rel_err_c128"] < 1e-12 and out["forward_rel_err_c64"] < 1e-4
    assert out["exact_rel_err"] < 1e-10 and out["exact_rel_err_causal"] < 1e-10
    assert out["exact_vs_fd_rel_err"] < 1e-6
    assert out["gradcheck_core"] and out["gradcheck_layer"]
    assert out["long_finite"] and not out["naive_minors_finite"]
    assert out["future_leak_causal"] == 0.0 < out["future_leak_full"]
    assert out["hybrid_cos"] < 0.9
    assert {r["method"] for r in rec.records} >= {"exact_full", "hybrid_full", "finite_diff_causal", "scan_c64"}


def test_gradcheck_breaks() -> None:
    out = bk_gradcheck.gradients(_cfg("bk-gradcheck", fault="hybrid_gradient", sizes=[16], long_sizes=[1024]),
                                 MemoryRecorder())
    assert out["exact_rel_err"] > 1e-2
    out = bk_gradcheck.gradients(_cfg("bk-gradcheck", fault="no_rescale", sizes=[16], long_sizes=[1024]),
                                 MemoryRecorder())
    assert out["long_finite"] is False


def test_scaling_quick() -> None:
    """Structure and correctness of the like-for-like sweep on a tiny grid (timings are not asserted)."""
    rec = MemoryRecorder()
    small = {"sizes": [128, 256], "channels": [1, 4], "d_model": 16, "rounds": 2, "min_batch_s": 0.002,
             "copy_mib": 4, "baseline_sizes": [64], "python_max_n": 64, "banded_max_n": 64, "torch_loop_max_n": 64,
             "model_sizes": [64], "n_layers": 1}
    out = bk_scaling.scaling(_cfg("bk-scaling", **small), rec)
    backends = out["backends"]
    assert "scan" in backends and ("native" in backends) == out["native_available"]
    assert out["max_dense_err"] < 1e-12 and out["max_grad_rel_err"] < 1e-9
    assert {f"grad_err_causal_{b}" for b in backends} <= set(out)
    assert out["max_baseline_err"] < 1e-12
    assert set(out["baselines"]) == {"scan", "numpy_loop", "python_loop", "banded_solve", "torch_loop",
                                     "cyclic_reduction"}
    ops = {r["op"] for r in rec.records}
    assert {"attention", "bk C=1 scan", "bk C=4 scan", "model resnet_bk", "model transformer"} <= ops
    for c in ("1", "4"):
        for b in backends:
            row = out["per_channel"][c][b]
            assert row["max_n"] == 256 and math.isfinite(row["slope"]) and row["bandwidth_fraction_at_max_n"] > 0
            # the 56 B/site pivot bound counts twice the op's own 28 B/site I/O: the same time, twice the fraction
            frac = row["bandwidth_fraction_at_max_n"]
            assert row["bandwidth_fraction_pivot_bound_at_max_n"] == pytest.approx(2 * frac)
            assert set(row["bandwidth_fraction"]) == set(row["ms"]) == {"128", "256"}
    assert out["matched_channels"] == 4
    assert 1 <= out["kernel_threads"] <= out["torch_threads"]  # the threads the C kernel's regions really get
    model = out["models"]["64"]
    assert abs(model["transformer_body_params"] / model["resnet_bk_body_params"] - 1) < 0.25
    assert out["attention_core_fwd_flops_n1024"] == 4 * 1024**2 * 64 + 5 * 4 * 1024**2
    saved = {r["op"]: r["saved_mb"] for r in rec.records if r.get("n") == 256 and "saved_mb" in r}
    assert saved["attention"] > 0 and saved["bk C=4 scan"] > saved["bk C=1 scan"]
    peak = {r["op"]: r["peak_rss_mb"] for r in rec.records if r.get("n") == 256 and "peak_rss_mb" in r}
    if out["peak_rss_measured"]:  # Linux: measured in a fresh worker, next to the autograd-saved estimate
        assert peak["attention"] > 0 and peak["bk C=4 scan"] > 0
        assert set(out["per_channel"]["4"]["scan"]["peak_rss_mb"]) == {"128", "256"}


def test_crossover_interpolation() -> None:
    assert compare.crossover_n([10, 100], [2.0, 2.0], [1.0, 4.0]) == pytest.approx(10 ** 1.5)
    assert compare.crossover_n([10, 100], [1.0, 1.0], [2.0, 4.0]) == 10
    assert compare.crossover_n([10, 100], [3.0, 9.0], [1.0, 2.0]) == math.inf


def test_lm_quick_is_deterministic_and_causal() -> None:
    cfg = _cfg("bk-lm", steps=20, eval_every=10)
    rec = MemoryRecorder()
    out = bk_lm.train(cfg, rec)
    assert out["resnet_bk_future_leak"] == 0.0 and out["transformer_future_leak"] < 1e-5
    assert out["resnet_bk_ppl"] < out["unigram_ppl"] * 1.5 and out["resnet_bk_ppl_over_floor"] > 0.98
    assert {r["model"] for r in rec.records} == {"resnet_bk", "transformer"}
    again = bk_lm.train(cfg, MemoryRecorder())
    assert again["resnet_bk_ppl"] == out["resnet_bk_ppl"]


def test_lm_noncausal_fault_leaks() -> None:
    out = bk_lm.train(_cfg("bk-lm", steps=4, eval_every=4, models=["resnet_bk"], fault="noncausal"), MemoryRecorder())
    assert out["resnet_bk_future_leak"] > 1e-6
