"""engine.lm.models.gpt against a torch oracle (forward and gradients), plus the parameter
formula, causality and the padding mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.lm.models.gpt import MiniGPT, MiniGPTConfig, closed_form_params, inventory
from engine.scratch.autograd.tensor import cross_entropy, no_grad


def _rope(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Interleaved-pair RoPE on (H, T, d_head), written independently of the engine."""
    _, t, dh = x.shape
    inv = base ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    e, o = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = e * cos - o * sin
    out[..., 1::2] = e * sin + o * cos
    return out


def _torch_logits(model: MiniGPT, ids: np.ndarray, params: dict[str, torch.Tensor]) -> torch.Tensor:
    cfg = model.cfg
    d, h_, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    t = len(ids)
    h = params["E"][torch.as_tensor(ids)]
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    for i in range(cfg.n_layers):
        p = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"block_{i}.")}
        x = F.layer_norm(h, (d,), p["ln1.weight"], p["ln1.bias"], cfg.ln_eps)
        q, k, v = ((x @ p[f"attn.W_{n}"]).reshape(t, h_, dh).transpose(0, 1) for n in "qkv")
        q, k = _rope(q), _rope(k)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        a = torch.softmax(s.masked_fill(mask, float("-inf")), -1)
        h = h + (a @ v).transpose(0, 1).reshape(t, d) @ p["attn.W_o"]
        x = F.layer_norm(h, (d,), p["ln2.weight"], p["ln2.bias"], cfg.ln_eps)
        h = h + F.linear(F.gelu(F.linear(x, p["ffn.w1"], p["ffn.b1"]), approximate="tanh"), p["ffn.w2"], p["ffn.b2"])
    h = F.layer_norm(h, (d,), params["ln_final.weight"], params["ln_final.bias"], cfg.ln_eps)
    return h @ params["E"].T


@pytest.fixture
def small() -> MiniGPT:
    cfg = MiniGPTConfig(d_model=16, n_heads=2, n_layers=2, d_ff=32, vocab_size=11, context_len=8)
    m = MiniGPT(cfg, rng=np.random.default_rng(3), dtype=np.float64)
    for name, p in m.named_parameters():  # move norms and biases off their trivial init
        if p.ndim == 1:
            p.data[...] = np.random.default_rng(len(name)).normal(1.0 if "weight" in name else 0.0, 0.1, p.shape)
    m.E.data[...] *= 20
    return m


def test_forward_and_gradients_match_torch(small: MiniGPT) -> None:
    ids = np.array([1, 4, 2, 9, 3, 3, 7])
    tgt = np.array([4, 2, 9, 3, 3, 7, 0])
    params = {n: torch.tensor(p.data, requires_grad=True) for n, p in small.named_parameters()}
    ref = _torch_logits(small, ids, params)
    logits = small(ids)
    np.testing.assert_allclose(logits.data, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    cross_entropy(logits, tgt).backward()
    F.cross_entropy(ref, torch.as_tensor(tgt)).backward()
    for name, p in small.named_parameters():
        np.testing.assert_allclose(p.grad, params[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_parameter_count_formula() -> None:
    for cfg in (MiniGPTConfig(), MiniGPTConfig(vocab_size=512, norm="rms", ffn_bias=False),
                MiniGPTConfig(d_model=32, n_heads=2, n_layers=3, d_ff=96, vocab_size=40)):
        assert sum(inventory(MiniGPT(cfg)).values()) == closed_form_params(cfg)
    assert closed_form_params(MiniGPTConfig()) == 103680


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        MiniGPTConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError):
        MiniGPTConfig(n_layers=0)


def test_causal_and_padding(small: MiniGPT) -> None:
    ids = np.array([[1, 4, 2, 9, 3, 0, 0], [5, 5, 1, 2, 8, 6, 3]])
    with no_grad():
        a = small(ids).data
        b = small(np.array([[1, 4, 2, 9, 3, 7, 7], [5, 5, 1, 2, 8, 6, 3]])).data
        keep = ids != 0
        keep[1] = True
        c = small(ids, pad_mask=keep).data
    assert np.array_equal(a[0, :5], b[0, :5])  # later tokens never reach earlier positions
    np.testing.assert_allclose(c[0, :5], a[0, :5], atol=1e-12)  # right padding changes nothing before it
    with pytest.raises(ValueError):
        small(np.arange(9) % 11)  # longer than context_len
