"""ResNet-BK model: shapes, causality, guards that name the layer, MoE routing."""

from __future__ import annotations

import pytest
import torch

from engine.lm.models.attention import TransformerLM
from engine.research.bk import flops
from engine.research.bk.model import BKConfig, NonFiniteError, ResNetBK, count_params, non_finite_grads
from engine.research.bk.moe import SparseMoE


def _model(**kw: object) -> ResNetBK:
    torch.manual_seed(0)
    return ResNetBK(BKConfig(vocab_size=11, n_seq=24, d_model=16, n_layers=2, **kw))  # type: ignore[arg-type]


def test_forward_backward_shapes_and_finite_grads() -> None:
    m = _model(channels=3)
    idx = torch.randint(0, 11, (3, 24))
    logits = m(idx)
    assert logits.shape == (3, 24, 11)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 11), idx.reshape(-1)).backward()
    assert non_finite_grads(m) == []
    assert all(p.grad is not None for n, p in m.named_parameters() if "experts" not in n)


@pytest.mark.parametrize("causal", [True, False])
def test_causality_of_logits(causal: bool) -> None:
    m = _model(causal=causal, ffn="mlp").eval()
    idx = torch.randint(0, 11, (1, 24), generator=torch.Generator().manual_seed(1))
    bumped = idx.clone()
    bumped[0, 15] = (bumped[0, 15] + 1) % 11
    with torch.no_grad():
        change = (m(bumped)[0, :15] - m(idx)[0, :15]).abs().max()
    assert (change == 0) if causal else (change > 1e-7)


def test_non_finite_is_reported_with_layer_name() -> None:
    m = _model()
    with torch.no_grad():
        m.layers[1].out_proj.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"layers\.1\.out"):
        m(torch.randint(0, 11, (1, 8)))


def test_v_clamp_and_hybrid_mode_run() -> None:
    m = _model(v_max=0.5, grad_mode="hybrid", precision="complex64")
    m(torch.randint(0, 11, (2, 24))).sum().backward()
    assert m.layers[0].last_v is not None and m.layers[0].last_v.abs().max() <= 0.5
    with pytest.raises(ValueError):
        m(torch.randint(0, 11, (1, 25)))


def test_moe_routes_each_token_to_one_expert() -> None:
    torch.manual_seed(0)
    moe = SparseMoE(8, num_experts=3)
    x = torch.randn(4, 10, 8, requires_grad=True)
    y = moe(x)
    assert y.shape == x.shape and moe.last_load is not None
    assert torch.isclose(moe.last_load.sum(), torch.tensor(1.0))
    y.sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0  # straight-through
    moe.eval()
    flat = x.detach().reshape(-1, 8)
    choice = moe.router(flat).argmax(-1)
    want = torch.stack([moe.experts[int(c)](flat[i]) for i, c in enumerate(choice)])
    assert torch.allclose(moe(x.detach()).reshape(-1, 8), want, atol=1e-6)


def test_transformer_baseline_is_causal_and_comparable() -> None:
    torch.manual_seed(0)
    t = TransformerLM(11, 24, 16, 2, 4).eval()
    idx = torch.randint(0, 11, (1, 24))
    bumped = idx.clone()
    bumped[0, 20] = (bumped[0, 20] + 1) % 11
    with torch.no_grad():
        assert (t(bumped)[0, :20] - t(idx)[0, :20]).abs().max() < 1e-6
    assert 0.3 < count_params(t) / count_params(_model()) < 3


def test_flop_counts_scale_as_expected() -> None:
    a1, a2 = flops.attention_cost(8, 1024, 64), flops.attention_cost(8, 2048, 64)
    b1, b2 = flops.bk_layer_cost(8, 1024, 64), flops.bk_layer_cost(8, 2048, 64)
    assert b2.flops == pytest.approx(2 * b1.flops)
    assert 3.0 < a2.flops / a1.flops < 4.0  # N^2 term dominates, projections are linear
    assert flops.bk_core_cost(8, 2048).intensity < 1.0 < flops.attention_cost(8, 2048, 64).intensity
    assert flops.scan_overhead(1) == 0 and 1.9 < flops.scan_overhead(4096) <= 2.0


def test_roofline_points_have_positive_intensity() -> None:
    from engine.research.bk.roofline_points import attention_point, bk_core_point

    bk, att = bk_core_point(batch=2, n=256, min_time_s=0.0), attention_point(batch=2, n=128, min_time_s=0.0)
    assert bk.seconds > 0 and bk.intensity < 1.0 < att.intensity


def test_bk_core_byte_counts() -> None:
    """Causal, float32 I/O, per site: the op's own I/O is 4 + 8 forward and 8 + 4 + 4 backward; saving one
    complex128 pivot adds 16 written and 16 read back."""
    io = flops.bk_core_cost(3, 10, causal=True, real_bytes=4, io_only=True)
    piv = flops.bk_core_cost(3, 10, causal=True, real_bytes=4, minimal=True)
    assert io.bytes == 30 * 28 and piv.bytes == 30 * 56 and io.flops == piv.flops
    assert flops.bk_core_cost(3, 10, causal=True, io_only=True, backward=False).bytes == 30 * 12
