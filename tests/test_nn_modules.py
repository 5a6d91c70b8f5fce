"""Module/Parameter registration, safetensors state round-trips, layers and norms against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.scratch.autograd.gradcheck import tensor_gradcheck
from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn import (
    GELU,
    BatchNorm1d,
    Embedding,
    LayerNorm,
    Linear,
    Module,
    Parameter,
    ReLU,
    Residual,
    RMSNorm,
    Sequential,
    init,
)

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


class Inner(Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = Parameter(np.ones(2))


class Outer(Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = Parameter(np.zeros(3))
        self.inner = Inner()

    def forward(self, x: float) -> float:
        return 2 * x


def test_registration_order_and_reassignment() -> None:
    m = Outer()
    assert [p.shape for p in m.parameters()] == [(3,), (2,)]
    assert list(m.state_dict()) == ["b", "inner.w"]
    m.b = Parameter(np.zeros(4))
    assert next(m.parameters()).shape == (4,)
    m.b = None
    assert [n for n, _ in m.named_parameters()] == ["inner.w"]
    assert m(5) == 10
    with pytest.raises(NotImplementedError):
        Module()(1)
    seq = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
    assert [tuple(p.shape) for p in seq.parameters()] == [(3, 2), (3,), (1, 3), (1,)]
    assert "Linear" in repr(seq)


def test_shared_parameter_is_yielded_twice() -> None:
    m = Outer()
    m.tied = m.b
    assert sum(1 for p in m.parameters() if p is m.b) == 2
    assert m.num_parameters() == 5


def test_forgetting_super_init_fails() -> None:
    class Bad(Module):
        def __init__(self) -> None:
            self.w = Parameter(np.ones(1))

    with pytest.raises((AttributeError, KeyError)):
        Bad()


def test_state_dict_safetensors_round_trip(tmp_path) -> None:
    a = Sequential(Linear(4, 8, rng=RNG), ReLU(), Linear(8, 3, rng=RNG), BatchNorm1d(3))
    b = Sequential(Linear(4, 8, rng=RNG), ReLU(), Linear(8, 3, rng=RNG), BatchNorm1d(3))
    a(Tensor(RNG.normal(size=(5, 4))))  # moves BatchNorm running stats
    path = a.save(tmp_path / "m.safetensors")
    w_before = b[0].weight
    b.load(path)
    assert b[0].weight is w_before  # loaded in place
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert np.array_equal(va, vb), k
    assert "3.running_mean" in a.state_dict()
    with pytest.raises(KeyError):
        b.load_state_dict({"0.weight": np.zeros((8, 4))})
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle


def test_linear_shapes_and_torch_equivalence() -> None:
    lin = Linear(4, 3, rng=RNG, dtype=np.float64)
    assert lin.weight.shape == (3, 4) and len(list(lin.parameters())) == 2
    assert len(list(Linear(4, 3, bias=False).parameters())) == 1
    assert lin(Tensor(RNG.normal(size=(2, 5, 4)))).shape == (2, 5, 3)
    x = RNG.normal(size=(6, 4))
    t = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        t.weight.copy_(torch.tensor(lin.weight.data))
        t.bias.copy_(torch.tensor(lin.bias.data))
    np.testing.assert_allclose(lin(Tensor(x)).data, t(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    bound = 1 / math.sqrt(4)
    assert np.abs(lin.weight.data).max() <= bound


@pytest.mark.parametrize("kind", ["layer", "rms", "batch"])
def test_norms_match_torch(kind: str) -> None:
    x = RNG.normal(size=(6, 5)) * 3 + 1
    g = RNG.normal(size=(6, 5))
    if kind == "layer":
        ours, theirs = LayerNorm(5, dtype=np.float64), torch.nn.LayerNorm(5, eps=1e-5).double()
    elif kind == "rms":
        ours, theirs = RMSNorm(5, dtype=np.float64), torch.nn.RMSNorm(5, eps=1e-6).double()
    else:
        ours, theirs = BatchNorm1d(5, dtype=np.float64), torch.nn.BatchNorm1d(5).double()
    ours.weight.data[...] = np.linspace(0.5, 1.5, 5)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
    xt = Tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out, tout = ours(xt), theirs(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-7, atol=1e-9)
    (out * Tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-7, atol=1e-9)
    if kind == "batch":
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-7)
        ours.eval()
        theirs.eval()
        np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-7)


def test_norms_survive_zero_input_and_gradcheck() -> None:
    for norm in (LayerNorm(4, dtype=np.float64), RMSNorm(4, dtype=np.float64)):
        y = norm(Tensor(np.zeros((2, 4))))
        assert np.isfinite(y.data).all()
        assert tensor_gradcheck(lambda x, n=norm: n(x), [Tensor(RNG.normal(size=(3, 4)))])
    y = RMSNorm(8, dtype=np.float64)(Tensor(RNG.normal(size=(5, 8))))
    np.testing.assert_allclose((y.data**2).mean(axis=-1), 1.0, rtol=1e-4)


def test_residual_embedding_and_gelu_module() -> None:
    x = Tensor(RNG.normal(size=(2, 3)))
    assert np.array_equal(Residual(lambda t: t * 0.0)(x).data, x.data)
    assert np.array_equal(Residual(lambda t: -t)(x).data, np.zeros((2, 3)))
    assert np.array_equal(Residual(lambda t: -t, enabled=False)(x).data, -x.data)
    emb = Embedding(10, 4, rng=RNG, dtype=np.float64)
    out = emb([1, 1, 3])
    out.sum().backward()
    assert emb.weight.grad[1].tolist() == [2.0] * 4 and emb.weight.grad[0].tolist() == [0.0] * 4
    assert tensor_gradcheck(lambda t: GELU()(t), [Tensor(RNG.normal(size=(3, 3)))])


def test_init_statistics_match_formulas() -> None:
    rng = np.random.default_rng(1)
    w = Tensor(np.zeros((400, 300)))
    init.kaiming_normal_(w, nonlinearity="relu", rng=rng)
    assert abs(w.data.var() / (2 / 300) - 1) < 0.02
    init.xavier_normal_(w, rng=rng)
    assert abs(w.data.var() / (2 / 700) - 1) < 0.02
    init.kaiming_uniform_(w, nonlinearity="relu", rng=rng)
    assert np.abs(w.data).max() <= math.sqrt(2) * math.sqrt(3 / 300)
    init.xavier_uniform_(w, gain=init.calculate_gain("tanh"), rng=rng)
    assert abs(w.data.var() / ((5 / 3) ** 2 * 2 / 700) - 1) < 0.02
    assert init.calculate_gain("relu") == pytest.approx(torch.nn.init.calculate_gain("relu"))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))


def test_gelu_and_silu_gains_keep_the_second_moment() -> None:
    x = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name, fn in (("gelu", torch.nn.functional.gelu), ("silu", torch.nn.functional.silu)):
        second_moment = float((fn(x) ** 2).mean())
        assert init.calculate_gain(name) == pytest.approx(1 / second_moment**0.5, rel=2e-3)
    assert 1.5 < init.calculate_gain("gelu") < 1.7
