"""The three BK experiments in quick mode, called directly with a MemoryRecorder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.labs import bk_gradcheck, bk_lm, bk_scaling
from engine.run import MemoryRecorder

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
    rec = MemoryRecorder()
    out = bk_scaling.scaling(_cfg("bk-scaling", sizes=[32, 128, 512], batch=2), rec)
    assert {r["op"] for r in rec.records} == {"bk_core", "bk_core_scan", "bk_core_c64", "bk_layer", "attention"}
    assert out["flop_ratio_at_max_n"] > 10
    assert out["bk_core_intensity"] < 1.0 < out["attention_intensity"]
    assert math.isfinite(out["slope_bk_layer"]) and out["ms_attention_at_max_n"] > 0


def test_crossover_interpolation() -> None:
    assert bk_scaling._crossover([10, 100], [2.0, 2.0], [1.0, 4.0]) == pytest.approx(10 ** 1.5)
    assert bk_scaling._crossover([10, 100], [1.0, 1.0], [2.0, 4.0]) == 10
    assert bk_scaling._crossover([10, 100], [3.0, 9.0], [1.0, 2.0]) == math.inf


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
