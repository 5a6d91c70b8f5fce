"""Unit tests for engine.lm.dynamics: Welford, clipping (torch oracle), spectral norm, dead units/heads,
the spike detector, hooks and the dashboard."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.lm.dynamics import charlm, dashboard
from engine.lm.dynamics.inspect import HookHandle, Inspector
from engine.lm.dynamics.stats import (
    SpikeDetector,
    Welford,
    clip_grad_norm,
    dead_heads,
    dead_units,
    detect_spikes,
    global_grad_norm,
    spectral_norm,
    update_to_weight_ratio,
    welford_update,
)
from engine.scratch.autograd.tensor import Tensor


def test_welford_matches_numpy_in_chunks_and_scalars() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(1e6, 2.0, size=3001)  # large offset: the naive formula would lose every digit
    st = None
    for x in data[:5]:
        st = welford_update(st, float(x))
    for chunk in np.array_split(data[5:], 13):
        st = welford_update(st, chunk)
    assert st is not None and st.n == data.size
    assert abs(st.mean - data.mean()) < 1e-6
    assert abs(st.var() - data.var(ddof=1)) / data.var(ddof=1) < 1e-9
    assert st.min == data.min() and st.max == data.max()
    assert math.isclose(st.l2, float(np.sqrt((data ** 2).sum())), rel_tol=1e-12)
    assert math.isnan(Welford().update(1.0).var())


def _params(rng: np.random.Generator) -> list[Tensor]:
    ps = []
    for shape in ((3, 4), (4,), (2, 2)):
        t = Tensor(rng.normal(size=shape), requires_grad=True)
        t.grad = rng.normal(size=shape) * 10
        ps.append(t)
    return ps


def test_clip_grad_norm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    ps = _params(rng)
    tps = [torch.tensor(p.data, requires_grad=True) for p in ps]
    for t, p in zip(tps, ps, strict=True):
        t.grad = torch.tensor(p.grad.copy())
    pre, post = clip_grad_norm(ps, 1.0)
    tpre = float(torch.nn.utils.clip_grad_norm_(tps, 1.0))
    assert math.isclose(pre, tpre, rel_tol=1e-9)
    assert math.isclose(post, 1.0, rel_tol=1e-6)
    for t, p in zip(tps, ps, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)


def test_clip_off_and_below_threshold_leave_grads_alone() -> None:
    ps = _params(np.random.default_rng(2))
    before = [p.grad.copy() for p in ps]
    for max_norm in (None, math.inf, 1e9):
        pre, post = clip_grad_norm(ps, max_norm)
        assert pre == post
    for b, p in zip(before, ps, strict=True):
        np.testing.assert_array_equal(b, p.grad)
    four, none, five = Tensor(np.zeros(4)), Tensor(np.zeros(1)), Tensor(np.zeros(5))
    four.grad, five.grad = np.ones(4), np.ones(5)
    assert math.isclose(global_grad_norm([four, none, five]), 3.0)  # a parameter without a gradient is skipped


def test_spectral_norm_matches_svd_and_warm_starts() -> None:
    w = np.random.default_rng(3).normal(size=(30, 20))
    s1 = np.linalg.svd(w, compute_uv=False)[0]
    sigma, v = spectral_norm(w, iters=200)
    assert math.isclose(sigma, s1, rel_tol=1e-6)
    sigma2, _ = spectral_norm(w * 2, iters=1, v0=v)
    assert math.isclose(sigma2, 2 * s1, rel_tol=1e-6)


def test_dead_units_and_heads() -> None:
    h = np.ones((100, 4))
    h[:, 1] = 0.0
    h[:1, 2] = 0.0  # dead on 1 % of rows only: alive
    assert dead_units(h) == 1
    t = 8
    uniform = np.tril(np.ones((t, t)))
    uniform /= uniform.sum(-1, keepdims=True)
    onehot = np.eye(t)
    probs = np.stack([uniform, onehot])[None].repeat(3, axis=0)  # (B=3, H=2, T, T)
    assert dead_heads(probs) == 1
    # uniform causal attention is never dead once rows 0-1 are skipped; counting them adds nothing here
    assert dead_heads(probs[:, :1], skip_first=2) == 0


def test_spike_detector() -> None:
    rng = np.random.default_rng(4)
    losses = list(2.0 + 0.01 * rng.normal(size=200))
    quiet = detect_spikes(losses)
    assert len(quiet) <= 3  # 5 MAD is about 3.4 sigma for Gaussian noise: rare false alarms
    losses[120] = 3.0
    assert set(detect_spikes(losses)) - set(quiet) == {120}
    early = list(losses)
    early[10] = 50.0  # before the window is full: silent
    assert 10 not in detect_spikes(early)
    det = SpikeDetector(window=5)
    for _ in range(5):
        det.update(1.0)
    assert det.update(float("nan"))
    assert update_to_weight_ratio(np.ones(4), np.ones(4) * 1.5) == pytest.approx(0.5)


def test_hooks_remove_cleanly_and_refuse_double_wrap() -> None:
    model = charlm.CharMLP(10, context=3, d_emb=4, hidden=8, rng=np.random.default_rng(0))
    x = np.zeros((5, 3), dtype=np.int64)
    ref = model(x).data.copy()
    seen = []
    h = HookHandle(model.fc0, lambda m, a, out: seen.append(out.shape), "forward")
    with pytest.raises(RuntimeError):
        HookHandle(model.fc0, lambda *a: None, "forward")
    np.testing.assert_array_equal(model(x).data, ref)
    h.remove()
    h.remove()  # idempotent
    model(x)
    assert seen == [(5, 8)] and "forward" not in model.fc0.__dict__
    ins = Inspector(model)
    ins.register_forward("h0", model.act0, dead=True)
    ins.register_backward("w", model.fc0.weight)
    loss, _ = charlm.loss_and_rows(model, charlm.Batch(x, np.zeros(5, dtype=np.int64), np.ones(5, bool), np.zeros(5)))
    loss.backward()
    ins.after_backward()
    snap = json.loads(json.dumps(ins.snapshot()))
    assert snap["activations"]["h0"]["n"] == 40 and snap["grads"]["w"]["n"] == 8 * 12
    ins.remove_all()
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_leak_window_contains_the_target() -> None:
    x, y = charlm.windows([5, 6, 7], context=3)
    assert x[0].tolist() == [0, 0, 0] and y.tolist() == [5, 6, 7, 1]
    xl, yl = charlm.windows([5, 6, 7], context=3, leak=True)
    assert all(row[-1] == t for row, t in zip(xl, yl, strict=True))


def test_dashboard_is_self_contained(tmp_path) -> None:
    log = tmp_path / "log.jsonl"
    rows = [{"step": s, "train_loss": 3.0 / (s + 1), "val_loss": None if s % 2 else 3.5 / (s + 1), "lr": 1e-3,
             "grad_norm_pre": 2.0, "grad_norm_post": 1.0, "loss_regular": 1.0, "loss_irregular": 1.2,
             "activations": {"layer_0": 0.5}, "spectral": {"w": 1.1}, "dead_neurons": {"layer_0": 1},
             "dead_heads": {}} for s in range(10)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = dashboard.render(log, tmp_path / "d.html", {"run": "t", "ngram_baseline": 1.0, "grad_clip": 1.0}, dpi=40)
    page = (tmp_path / "d.html").read_text()
    assert info["panels"] == 7 and page.count("data:image/png;base64,") == 7
    assert dashboard.is_self_contained(page)
    assert not dashboard.is_self_contained(page + '<script src="https://cdn.example/x.js"></script>')


def test_gpt_subject_dead_heads_and_switches() -> None:
    from engine.lm.dynamics.loop import resolve
    from engine.lm.dynamics.subjects import make_subject

    subj = make_subject(resolve({"seed": 0}))
    b = subj.next_batch()
    subj.loss(b)
    assert subj.dead_heads() == {"block_0": 0, "block_1": 0}  # fresh init: near-uniform attention
    w = subj.model.blocks[0].attn.last_weights
    subj.model.blocks[0].attn.last_weights = np.broadcast_to(np.eye(w.shape[-1]), w.shape).copy()
    assert subj.dead_heads()["block_0"] == w.shape[1]  # one-hot rows: every head dead
    assert subj.v_target() is subj.model.blocks[-1].ffn.b2
    leaky = make_subject(resolve({"seed": 0, "leak": True, "init_scale": 100.0}))
    assert leaky.model.cfg.causal is False
    ratio = np.abs(leaky.model.E.data).mean() / np.abs(subj.model.E.data).mean()
    assert ratio == pytest.approx(100.0, rel=1e-5)


def test_overfit_detector_finds_the_minimum_online() -> None:
    from engine.labs.p19_training_dynamics import overfit_detector

    steps = list(range(0, 1000, 50))
    val = [2.0 - 0.1 * i if i <= 8 else 1.2 + 0.05 * (i - 8) for i in range(len(steps))]  # minimum at step 400
    assert overfit_detector(steps, val, patience=5, tol=0.02) == 400
    assert overfit_detector(steps, sorted(val, reverse=True), patience=5) is None  # never turns up
