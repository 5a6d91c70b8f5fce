"""engine/scratch/nn/fit.py: the scratch stack's classifier loops against the same loop written in torch (fp64), and the
stop at the first non-finite loss."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scratch.nn import Linear, ReLU, Sequential
from engine.scratch.nn.fit import fit_full_batch, fit_minibatch
from engine.scratch.optim import SGD, Adam

torch = pytest.importorskip("torch")


def _data(seed: int = 0, n: int = 96, d: int = 5, k: int = 3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, d))
    y = rng.integers(0, k, size=n)
    x = centers[y] + rng.normal(0, 1, size=(n, d))
    return x, y


def _pair(d: int = 5, h: int = 8, k: int = 3):
    rng = np.random.default_rng(1)
    ours = Sequential(Linear(d, h, rng=rng, dtype=np.float64), ReLU(), Linear(h, k, rng=rng, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, k)).double()
    with torch.no_grad():
        for mine, theirs in ((ours[0], ref[0]), (ours[2], ref[2])):
            theirs.weight.copy_(torch.from_numpy(mine.weight.data))
            theirs.bias.copy_(torch.from_numpy(mine.bias.data))
    return ours, ref


def test_minibatch_matches_torch_step_by_step():
    x, y = _data()
    ours, ref = _pair()
    logged = []
    res = fit_minibatch(ours, SGD(list(ours.parameters()), lr=0.1, momentum=0.9), (x, y, x, y), steps=40, batch=16,
                        seed=7, log_every=10, log=lambda s, **m: logged.append((s, m)), grad_of=ours[0])
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    order, losses, grads = np.random.default_rng(7), [], []
    for _ in range(40):
        idx = order.integers(0, len(y), size=16)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        loss.backward()
        grads.append(float(ref[0].weight.grad.norm()))
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(res["losses"], losses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["grads"], grads, rtol=1e-10)
    acc = float((ref(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    assert res["val_acc"] == acc and res["nan_step"] == -1 and res["stop_loss"] is None
    assert res["final_loss"] == pytest.approx(np.mean(losses[-40:]), rel=1e-10)
    assert [s for s, _ in logged] == [0, 10, 20, 30, 39] and "grad_norm_layer1" in logged[0][1]


def test_minibatch_stops_at_the_first_non_finite_loss():
    x, y = _data()
    ours, _ = _pair()
    res = fit_minibatch(ours, SGD(list(ours.parameters()), lr=1e6), (x, y, x, y), steps=50, batch=16, seed=0,
                        log_every=50)
    assert 0 < res["nan_step"] < 50 and len(res["losses"]) == res["nan_step"]
    assert not np.isfinite(res["stop_loss"]) and np.all(np.isfinite(res["losses"]))


def test_full_batch_matches_torch_and_reports_the_first_epoch_at_90():
    x, y = _data(seed=3)
    ours, ref = _pair()
    final, first_90 = fit_full_batch(ours, Adam(list(ours.parameters()), lr=0.01), x, y, 60)
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    accs = []
    for _ in range(60):
        opt.zero_grad()
        logits = ref(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
        loss.backward()
        opt.step()
        accs.append(float((logits.argmax(1).numpy() == y).mean()))
    assert final == pytest.approx(loss.item(), rel=1e-9)
    assert first_90 == next(i for i, a in enumerate(accs) if a >= 0.9)
