"""engine.lm.models.attention_ref and engine.lm.models.positional against torch and against hand numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.lm.models.attention_ref import (
    MultiHeadAttention,
    attention,
    causal_mask,
    single_head_attention,
)
from engine.lm.models.positional import (
    LearnedPositionalEmbedding,
    RoPE,
    SinusoidalPositionalEncoding,
    alibi_slopes,
    apply_rope,
    precompute_rope,
    rope_rotate,
    sinusoidal_pe,
)
from engine.scratch.autograd.gradcheck import tensor_gradcheck
from engine.scratch.autograd.tensor import Tensor


def test_causal_mask_shape_and_values() -> None:
    m = causal_mask(4)
    assert m.dtype == np.float32
    assert np.array_equal(m == 0, np.tril(np.ones((4, 4), bool)))
    assert m[0, 1] == np.float32(-1e9)
    # a 2-query block at the end of a 5-key cache: query 0 sees keys 0..3, query 1 all 5
    assert np.array_equal(causal_mask(2, 5) == 0, np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_forward_and_grads_match_torch(causal: bool) -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 8)) for _ in range(3))
    tq, tk, tv = (Tensor(a, requires_grad=True) for a in (q, k, v))
    out, w = attention(tq, tk, tv, causal_mask(5, dtype=np.float64) if causal else None)
    assert np.allclose(w.data.sum(-1), 1.0)
    gy = rng.standard_normal(out.shape)
    (out * gy).sum().backward()
    pq, pk, pv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ref = F.scaled_dot_product_attention(pq, pk, pv, is_causal=causal)
    (ref * torch.tensor(gy)).sum().backward()
    assert np.allclose(out.data, ref.detach().numpy(), atol=1e-10)
    for mine, theirs in ((tq, pq), (tk, pk), (tv, pv)):
        assert np.allclose(mine.grad, theirs.grad.numpy(), atol=1e-10)


def test_attention_gradcheck_with_mask() -> None:
    rng = np.random.default_rng(1)
    q, k, v = (Tensor(rng.standard_normal((4, 3)), requires_grad=True) for _ in range(3))
    mask = causal_mask(4, dtype=np.float64)
    assert tensor_gradcheck(lambda a, b, c: (attention(a, b, c, mask)[0] ** 2).sum(), [q, k, v])


def test_worked_length4_example() -> None:
    x = np.array([[.5, .3, -.2, .1], [-.1, .4, .2, -.3], [.2, -.1, .5, .1], [0, 0, 0, .2]])
    y = single_head_attention(0.5 * x, 0.5 * x, x, causal_mask(4, dtype=np.float64))
    assert np.allclose(y[3], [0.1505, 0.1493, 0.1247, 0.0259], atol=1e-4)


def test_post_softmax_mask_breaks_normalisation() -> None:
    rng = np.random.default_rng(2)
    q = rng.standard_normal((6, 4))
    _, w = attention(q, q, q, causal_mask(6, dtype=np.float64), mask_mode="post_softmax")
    assert w.data.sum(-1).min() < 0.99


def test_mha_matches_torch_multihead_with_causal_mask() -> None:
    d, h, T = 16, 4, 7
    mha = MultiHeadAttention(d, h, seed=3, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((2, T, d))
    y = mha(x, causal=True).data
    tx = torch.tensor(x)
    q, k, v = (tx @ torch.tensor(w.data) for w in (mha.W_q, mha.W_k, mha.W_v))
    q, k, v = (t.view(2, T, h, d // h).transpose(1, 2) for t in (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, T, d)
    ref = ref @ torch.tensor(mha.W_o.data)
    assert np.allclose(y, ref.numpy(), atol=1e-10)
    assert mha.last_weights is not None and mha.last_weights.shape == (2, h, T, T)
    # one sequence without a batch axis gives the same rows
    assert np.allclose(mha(x[0], causal=True).data, y[0], atol=1e-12)


def test_mha_backward_reaches_every_weight() -> None:
    mha = MultiHeadAttention(8, 2, seed=0)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32), requires_grad=True)
    (mha(x, causal=True, rope=RoPE(4)) ** 2).sum().backward()
    assert x.grad is not None and all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in mha.parameters())
    assert mha.num_parameters() == 4 * 8 * 8


def test_sinusoidal_worked_row_and_module() -> None:
    pe = sinusoidal_pe(4, 8)
    assert np.allclose(pe[1], [.84, .54, .10, 1.00, .01, 1.00, .00, 1.00], atol=0.005)
    mod = SinusoidalPositionalEncoding(16, 8)
    assert np.allclose(mod(np.zeros((3, 8)), offset=1).data, pe[1:4])
    shuffled = sinusoidal_pe(16, 8, shuffle_seed=0)
    assert not np.allclose(shuffled, sinusoidal_pe(16, 8))
    assert np.allclose(np.sort(shuffled, axis=0), np.sort(sinusoidal_pe(16, 8), axis=0))


def test_learned_table_reuses_last_row() -> None:
    emb = LearnedPositionalEmbedding(4, 3, rng=np.random.default_rng(0))
    out = emb(np.zeros((6, 3))).data
    assert np.allclose(out[4], emb.weight.data[3]) and np.allclose(out[5], emb.weight.data[3])


def _torch_rope_interleaved(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Independent oracle: complex multiplication of (even + i odd) by e^{i p theta}."""
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * theta
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).reshape(x.shape)


def test_rope_matches_complex_oracle_and_grad() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 9, 16))
    rope = RoPE(16, max_len=4)  # tables grow on demand
    t = Tensor(x, requires_grad=True)
    y = rope(t)
    assert np.allclose(y.data, _torch_rope_interleaved(torch.tensor(x)).numpy(), atol=1e-12)
    assert np.allclose(rope(x), y.data)
    assert tensor_gradcheck(lambda a: (rope(a) ** 3).sum(), [Tensor(x[0, :3], requires_grad=True)])


def test_rope_relative_position_and_norm() -> None:
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal(16), rng.standard_normal(16)
    cos, sin = precompute_rope(40, 16)
    for m, n in [(0, 1), (3, 7), (5, 5), (10, 12), (20, 8)]:
        qm = rope_rotate(q[None], cos[m:m + 1], sin[m:m + 1])[0]
        kn = rope_rotate(k[None], cos[n:n + 1], sin[n:n + 1])[0]
        angle = (n - m) * np.arctan2(sin[1], cos[1])
        k_rel = rope_rotate(k[None], np.cos(angle)[None], np.sin(angle)[None])[0]
        assert abs(qm @ kn - q @ k_rel) < 1e-10
    qr, kr = apply_rope(np.tile(q, (40, 1)), np.tile(k, (40, 1)), cos, sin)
    assert np.allclose(np.linalg.norm(qr, axis=1), np.linalg.norm(q))
    assert np.allclose(np.linalg.norm(kr, axis=1), np.linalg.norm(k))


def test_rope_offset_equals_slice() -> None:
    x = np.random.default_rng(6).standard_normal((1, 2, 12, 8))
    rope = RoPE(8)
    assert np.allclose(rope(x)[..., 5:, :], rope(x[..., 5:, :], offset=5))


def test_alibi_slopes() -> None:
    assert np.allclose(alibi_slopes(8), [1 / 2 ** k for k in range(1, 9)])
