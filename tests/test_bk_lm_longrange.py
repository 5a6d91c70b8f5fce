"""Long-range synthetic tasks (engine.research.bk.longrange) and the bk-longrange entry's wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.research.bk import longrange as LR


@pytest.mark.parametrize("task", LR.TASKS)
@pytest.mark.parametrize("n", [25, 1024, 8192])
def test_answer_is_recoverable_from_the_input(task: str, n: int) -> None:
    spec = LR.TaskSpec(task, n, n_pairs=8, n_queries=4, n_keys=16, n_values=16)
    x, y = LR.batch_at(spec, 3, 0, 8)
    assert x.shape == y.shape == (8, n) and x.dtype == y.dtype == np.int64
    assert x.min() >= 0 and x.max() < spec.vocab_size
    assert ((y != LR.IGNORE).sum(axis=1) == spec.answers_per_seq).all()
    np.testing.assert_array_equal(LR.solve(spec, x), y)


def test_recall_is_long_range_and_causal() -> None:
    spec = LR.TaskSpec("recall", 512, n_pairs=8, n_queries=4)
    x, y = LR.batch_at(spec, 0, 0, 16)
    rows, cols = np.nonzero(y != LR.IGNORE)
    assert cols.min() >= 512 - 2 * 4  # queries sit at the end ...
    for r, c in zip(rows, cols, strict=True):
        where = np.flatnonzero(x[r, :c] == x[r, c])  # ... and their key was written at the start
        assert where[0] < 2 * 8 and x[r, where[0] + 1] == y[r, c]
        assert y[r, c] not in x[r, c : c + 1]  # the answer is never the token at its own position


def test_generators_are_deterministic_and_streams_differ() -> None:
    spec = LR.TaskSpec("copy", 256, n_pairs=8, n_values=16)
    a, b = LR.batch_at(spec, 1, 5, 4), LR.batch_at(spec, 1, 5, 4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], LR.batch_at(spec, 1, 6, 4)[0])
    assert not np.array_equal(a[0], LR.batch_at(spec, 2, 5, 4)[0])
    assert not np.array_equal(LR.validation(spec, 1, 4)[0], LR.batch_at(spec, 1, 0, 4)[0])


@pytest.mark.parametrize("task", LR.TASKS)
def test_majority_baseline_is_at_chance(task: str) -> None:
    spec = LR.TaskSpec(task, 64, n_pairs=4, n_queries=4, n_keys=8, n_values=10)
    y_train = np.concatenate([LR.batch_at(spec, 0, s, 64)[1] for s in range(8)])
    _, y_val = LR.validation(spec, 0, 2000)
    acc = LR.majority_baseline(y_train, y_val)
    sd = math.sqrt(spec.chance * (1 - spec.chance) / (2000 * spec.answers_per_seq))
    assert abs(acc - spec.chance) < 4 * sd
    # answers are uniform over the value alphabet
    counts = np.bincount(y_val[y_val != LR.IGNORE] - y_val[y_val != LR.IGNORE].min(), minlength=10)
    assert counts.min() > 0.8 * counts.mean()


def test_bad_sizes_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        LR.TaskSpec("recall", 10, n_pairs=8)
    with pytest.raises(ValueError, match="n_keys"):
        LR.TaskSpec("recall", 100, n_pairs=8, n_keys=4)
    with pytest.raises(ValueError, match="task must be"):
        LR.TaskSpec("sort", 100)


def test_accuracy_counts_only_answer_positions() -> None:
    y = np.array([[LR.IGNORE, 5, LR.IGNORE, 6]])
    assert LR.answer_accuracy(np.array([[0, 5, 0, 0]]), y) == 0.5


def test_interpret_matches_a_dense_hamiltonian() -> None:
    import torch

    from engine.research.bk.model import BKConfig, ResNetBK, interpret

    torch.manual_seed(0)
    model = ResNetBK(BKConfig(vocab_size=20, n_seq=48, d_model=16, n_layers=2, num_experts=2))
    idx = torch.randint(0, 20, (1, 48))
    info = interpret(model, idx, layer=1)
    v = info["v"]
    h = np.diag(-2.0 + v) + np.diag(np.ones(47), 1) + np.diag(np.ones(47), -1)
    np.testing.assert_allclose(info["spectrum"], np.linalg.eigvalsh(h), atol=1e-10)
    g = np.linalg.inv(h - 1j * np.eye(48))
    np.testing.assert_allclose(info["abs_g_full"], np.abs(np.diag(g)), rtol=1e-9)
    causal = [abs(np.linalg.inv(h[: i + 1, : i + 1] - 1j * np.eye(i + 1))[i, i]) for i in range(48)]
    np.testing.assert_allclose(info["abs_g_causal"], causal, rtol=1e-9)
    assert np.abs(v).max() <= 3.0 and v.std() > 0


@pytest.mark.slow
def test_longrange_quick_through_the_runner() -> None:
    from engine.core.threads import torch_threads
    from tests.labkit import failed_hard_checks

    with torch_threads(1):  # as the runner runs it (OMP_NUM_THREADS=1): two threads doubled the time under load
        assert failed_hard_checks("bk-longrange") == []


def test_entry_reports_accuracy_ci_speed_and_interpretation() -> None:
    from pathlib import Path

    import yaml

    from engine.core.run import MemoryRecorder
    from engine.labs import bk_longrange

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "experiments" / "bk-longrange.yaml").read_text())
    cfg = {**spec["config"], **spec["quick"], "seed": 1, "fault": None, "quick": True, "device": "cpu",
           "lengths": [16, 24], "steps": 3, "eval_every": 3, "val_size": 16, "d_model": 16, "n_resamples": 99}
    rec = MemoryRecorder()
    out = bk_longrange.run(cfg, rec)
    for task in ("recall", "copy"):
        for n in (16, 24):
            for name in ("resnet_bk", "transformer"):
                lo, hi = out[f"{task}_{n}_{name}_acc_ci"]
                assert 0.0 <= lo <= out[f"{task}_{n}_{name}_acc"] <= hi <= 1.0
                assert out[f"{task}_{n}_{name}_tokens_per_s"] > 0
    assert 0.8 < out["params_ratio"] < 1.25 and out["seeds"] == [1, 2]
    stages = {r.get("stage") for r in rec.records}
    assert stages >= {"train", "summary", "potential", "spectrum"}
    assert sum(r.get("stage") == "spectrum" for r in rec.records) == 16
    again = bk_longrange.run(cfg, MemoryRecorder())
    assert again["recall_16_resnet_bk_acc"] == out["recall_16_resnet_bk_acc"]
