"""Phase 25 and 27 extras beyond tests/test_labs.py: engine.torchstack.internals and engine.lm.models.flash against their oracles."""

from __future__ import annotations

import pytest
import torch

from engine.torchstack.internals.custom_softmax import softmax
from engine.torchstack.internals.dispatch import trace_ops
from engine.torchstack.internals.linear_grad import grad_fn_walk, linear_backward


def test_linear_backward_matches_autograd_in_float64() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    W = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(5, 3, dtype=torch.float64)
    (torch.nn.functional.linear(x, W, b) * dy).sum().backward()
    for mine, ref in zip(linear_backward(x.detach(), W.detach(), dy), (x.grad, W.grad, b.grad), strict=True):
        torch.testing.assert_close(mine, ref)


def test_grad_fn_walk_and_trace() -> None:
    x = torch.randn(2, 4, requires_grad=True)
    ops, y = trace_ops(lambda: torch.nn.functional.linear(x, torch.randn(3, 4), torch.randn(3)))
    assert "addmm" in ops
    assert grad_fn_walk(y.sum().grad_fn)[:2] == ["SumBackward0", "AddmmBackward0"]


def test_custom_softmax_matches_torch_including_second_axis_sizes() -> None:
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(softmax, (x,))
    torch.testing.assert_close(softmax(x * 50), torch.softmax(x * 50, -1))


def test_tiled_and_online_attention_match_torch_sdpa() -> None:
    import numpy as np

    from engine.lm.models.flash import ByteCounter, bytes_flash, online_softmax_attention, tiled_attention

    rng = np.random.default_rng(0)
    Q, K, V = (rng.normal(size=(200, 32)).astype(np.float32) for _ in range(3))  # 200: ragged last tile
    for causal in (False, True):
        ref = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(a)[None] for a in (Q, K, V)), is_causal=causal)[0]
        out, lse = tiled_attention(Q, K, V, 64, 64, causal=causal)
        np.testing.assert_allclose(out, ref.numpy(), atol=2e-6)
    s = (Q @ K.T) / np.sqrt(32)
    ref = torch.softmax(torch.from_numpy(s).double(), -1) @ torch.from_numpy(V).double()
    np.testing.assert_allclose(online_softmax_attention(s, V, 7), ref.numpy(), atol=1e-6)
    c = ByteCounter()
    tiled_attention(Q[:128], K[:128], V[:128], 64, 64, c)
    assert c.bytes(2) == bytes_flash(128, 32, 64, 2) + 2 * 128  # plus the LSE


def test_gqa_conversion_keeps_mha_and_shrinks_kv() -> None:
    import numpy as np

    from engine.lm.models.gpt import CausalSelfAttention, MiniGPTConfig
    from engine.lm.models.gqa import from_mha, kv_bytes_per_token
    from engine.scratch.autograd.tensor import Tensor

    rng = np.random.default_rng(3)
    csa = CausalSelfAttention(MiniGPTConfig(d_model=32, n_heads=4, context_len=16), rng=rng)  # with RoPE
    x = Tensor(rng.normal(size=(2, 10, 32)).astype(np.float32))
    np.testing.assert_allclose(from_mha(csa, 4)(x).data, csa(x, None).data, atol=1e-6)
    mqa = from_mha(csa, 1)
    mqa(x)
    k, v = mqa.last_kv
    assert mqa.W_k.shape == (32, 8) and k.shape == (2, 1, 10, 8) and v.shape == k.shape
    assert kv_bytes_per_token(2, 4, 16, 4) == 1024
    with pytest.raises(ValueError):
        from_mha(csa, 3)
