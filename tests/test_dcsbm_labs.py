"""The DCSBM experiments in quick mode (and their breaks), called directly with a MemoryRecorder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from engine.core.run import MemoryRecorder
from engine.labs import dcsbm_drift, dcsbm_softmax_bound, dcsbm_svd_bench
from engine.research.dcsbm import spectral

ROOT = Path(__file__).resolve().parents[1]


def _cfg(name: str, **extra: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    return {**spec.get("config", {}), **spec.get("quick", {}), "seed": 42, "fault": None, "quick": True,
            "device": "cpu", **extra}


def _hard_checks(name: str) -> list[dict[str, Any]]:
    spec = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    return [c for c in spec["checks"] if c.get("hard", True)]


def _passes(value: Any, check: dict[str, Any]) -> bool:
    op, ref = check["op"], check["value"]
    if op == "==":
        return abs(value - ref) <= check.get("tol", 0) if isinstance(ref, float) else value == ref
    return {"<": value < ref, "<=": value <= ref, ">": value > ref, ">=": value >= ref}[op]


def test_softmax_bound_quick_and_break() -> None:
    rec = MemoryRecorder()
    out = dcsbm_softmax_bound.bound_vs_measured(_cfg("dcsbm-softmax-bound", n_instances=8), rec)
    for check in _hard_checks("dcsbm-softmax-bound"):
        assert _passes(out[check["metric"]], check), check
    assert out["instances_checked"] > 1000
    assert out["stage1_tightness_uniform"] == pytest.approx(2 / out["t_max"], rel=0.05)   # 2/T, not 1
    assert {r["regime"] for r in rec.records} == set(dcsbm_softmax_bound.REGIMES)
    broken = dcsbm_softmax_bound.bound_vs_measured(_cfg("dcsbm-softmax-bound", n_instances=8,
                                                         fault="quarter_lipschitz"), MemoryRecorder())
    assert broken["violations_stage1"] > 0
    assert "data:image/png" in (rec.out_dir / "report.html").read_text()
    derivation = rec.out_dir / "softmax-bound.html"                # seed 001's derivation, via the report path
    assert derivation.read_text().count("<h2>") >= 8 and "\\frac{1}{2\\sqrt{d_k}}" in derivation.read_text()
    assert out["derivation_pdf"] == (shutil.which("pdflatex") is not None)
    assert any(n.startswith("derivation: softmax-bound.html") for n in rec.notes)


def test_svd_bench_quick_and_break() -> None:
    rec = MemoryRecorder()
    out = dcsbm_svd_bench.lowrank_vs_full(_cfg("dcsbm-svd-bench", batch=8), rec)
    for check in _hard_checks("dcsbm-svd-bench"):
        assert _passes(out[check["metric"]], check), (check, out[check["metric"]])
    assert {r["kind"] for r in rec.records} == set(dcsbm_svd_bench.KINDS)
    assert out["dist_qkt_n64_q16_it2"] < 1e-5 < out["dist_qkt_n64_q7_it0"]     # q below the rank is not exact
    broken = dcsbm_svd_bench.lowrank_vs_full(_cfg("dcsbm-svd-bench", batch=8, fault="no_power_iterations"),
                                             MemoryRecorder())
    assert broken["dist_decaying"] > 1e-2


def test_drift_quick_passes_hard_checks() -> None:
    rec = MemoryRecorder()
    out = dcsbm_drift.drift_vs_violations(_cfg("dcsbm-drift"), rec)
    for check in _hard_checks("dcsbm-drift"):
        assert _passes(out[check["metric"]], check), (check, out[check["metric"]])
    assert 0 < out["n_violations"] < out["n_events"]
    assert 0.0 <= out["auroc_best"] <= 1.0 and 0.0 < out["drift_p_value"] <= 1.0
    assert out["compliance_experimental"] > out["compliance_null_model"] + 0.3    # the rule was learned
    groups = {r.get("group") for r in rec.records if r.get("stage") == "drift"}
    assert groups == {"violation", "compliant", "null"}
    assert out["verdict"].startswith(("SUPPORTED", "NOT SUPPORTED")) and out["verdict"] in rec.notes
    assert out["verdict"].endswith(f"drift signal beats null: {'yes' if out['drift_signal_beats_null'] else 'no'}")
    assert not any(k.startswith("_") for k in out)
    assert out["null_drifts_more"] == (out["drift_mean_null"] > out["drift_mean_violation"])
    if not out["drift_beats_shuffle"]:
        assert "does NOT beat" in out["verdict"]
    assert out["n_metrics"] == len(out["metrics"]) == 30
    assert {"qkt.spectral_curvature", "qkt.spectral_torsion", "avwo.spectral_curvature"} <= set(out["auroc_by_metric"])
    assert {f"wvwo.{m}" for m in spectral.METRICS} <= set(out["metrics"])
    traj = out["wvwo_trajectory"]["experimental"]
    assert out["wvwo_checkpoints"] == 200 // 20 + 1 and len(traj["read_write_alignment"]) == 2
    assert np.allclose(traj["stable_rank"], out["wvwo"]["experimental"]["stable_rank"], rtol=1e-9)
    assert traj["grassmannian_drift_mean"][0][0] > 0
    w = np.load(rec.out_dir / "spectra_wvwo.npz", allow_pickle=False)["experimental_wvwo"]
    assert w.shape == (2, 1, 11, 32)
    html = (rec.out_dir / "report.html").read_text()
    assert out["verdict"].split(":")[0] in html and "data:image/png" in html and "W_V W_O" in html
    assert {f"qkt.{m}" for m in spectral.METRICS} <= set(out["metrics"])
    assert out["predictive_horizon"] == out["horizon_by_metric"]["qkt.grassmannian_drift"]["horizon"]
    lo, hi = out["auroc_lookback0_ci"]
    assert lo < out["auroc_lookback0"] < hi
    spectra = np.load(rec.out_dir / "spectra.npz", allow_pickle=False)
    s = spectra["experimental_qkt"]
    assert s.shape[-1] == 16 and np.all(np.diff(s, axis=-1) <= 1e-5)          # full, descending spectra
    assert len(out["wvwo"]["experimental"]["stable_rank"]) == 2


def test_drift_too_few_events_degrades_to_a_message() -> None:
    tiny = {"train_walks": 200, "eval_walks": 20, "train_steps": 20, "n_shuffles": 10, "min_class_events": 10**6}
    rec = MemoryRecorder()
    out = dcsbm_drift.drift_vs_violations(_cfg("dcsbm-drift", **tiny), rec)
    assert out["insufficient_events"] and out["verdict"].startswith("NO VERDICT")
    assert out["verdict"] in rec.notes and out["n_events"] > 0


def test_drift_shuffled_labels_break() -> None:
    small = {"train_walks": 300, "eval_walks": 80, "train_steps": 60, "n_shuffles": 20}
    out = dcsbm_drift.drift_vs_violations(_cfg("dcsbm-drift", fault="shuffle_labels", **small), MemoryRecorder())
    assert out["positive_control_auroc"] < 0.65


@pytest.mark.slow
def test_drift_no_rule_training_break() -> None:
    out = dcsbm_drift.drift_vs_violations(_cfg("dcsbm-drift", fault="no_rule_training"), MemoryRecorder())
    assert out["compliance_experimental"] < 0.6


@pytest.mark.slow
def test_drift_multi_seed_aggregation() -> None:
    small = {"train_walks": 300, "eval_walks": 80, "train_steps": 60, "n_shuffles": 20, "n_bootstrap": 100,
             "n_seeds": 3}
    rec = MemoryRecorder()
    out = dcsbm_drift.drift_vs_violations(_cfg("dcsbm-drift", **small), rec)
    assert out["seeds"] == [42, 43, 44] and len(out["auroc_lookback0_by_seed"]) == 3
    assert out["auroc_lookback0_by_seed"][0] == out["auroc_lookback0"] and "_pool" not in out
    assert out["auroc_lookback0_seed_mean"] == pytest.approx(np.mean(out["auroc_lookback0_by_seed"]))
    lo, hi = out["auroc_lookback0_seed_mean_ci"]
    assert lo < out["auroc_lookback0_seed_mean"] < hi
    assert (rec.out_dir / "seed1" / "spectra.npz").exists()
    assert not any(k.startswith("_") for k in out)
    r = 4
    assert len(out["auroc_by_lookback_seed_mean"]) == len(out["auroc_by_lookback_seed_mean_ci"]) == r
    assert out["auroc_by_lookback_seed_mean"][0] == pytest.approx(out["auroc_lookback0_seed_mean"], abs=1e-12)
    for mean, (lo, hi) in zip(out["auroc_by_lookback_seed_mean"], out["auroc_by_lookback_seed_mean_ci"], strict=True):
        assert lo <= mean <= hi
    assert -1 <= out["predictive_horizon_seeds"] < r
    assert out["predictive_horizon_seeds"] == out["horizon_by_metric_seeds"]["qkt.grassmannian_drift"]["horizon"]
    yes = "yes" if out["drift_signal_beats_null"] else "no"
    assert out["verdict_seeds"].endswith(f"drift signal beats null: {yes}") and out["verdict_seeds"] in rec.notes
