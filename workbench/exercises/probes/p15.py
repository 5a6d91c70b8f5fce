"""Phase 15 probes: scaled dot-product attention, splitting and merging heads, the causal mask.

Attention is compared in float64 on batched random q, k, v of several sizes (T = 1 included,
T_q != T_k for a query block at the end of a key cache), with and without a mask, with a
float scale, with scale=False, and through backward (the gradients reaching q, k and v).
Head splitting is checked as a round trip and against explicit column slices per head.
The mask is checked on square and rectangular shapes against the rule j <= i + T_k - T.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.models.attention_ref import MASK_VALUE, MultiHeadAttention, causal_mask
from engine.scratch.autograd.tensor import Tensor
from workbench.exercises.probes._compare import compare


def _qkv(rng: np.random.Generator, batch: tuple[int, ...], t: int, tk: int, dk: int, dv: int) -> list[np.ndarray]:
    return [rng.normal(size=(*batch, t, dk)), rng.normal(size=(*batch, tk, dk)), rng.normal(size=(*batch, tk, dv))]


def attention(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    shapes = [((), 1, 1, 4, 3), ((), 5, 5, 8, 8), ((2,), 4, 7, 16, 5), ((2, 3), 6, 6, 64, 4), ((), 3, 9, 2, 2)]
    for batch, t, tk, dk, dv in shapes:
        q, k, v = _qkv(rng, batch, t, tk, dk, dv)
        q *= 3.0  # sharp rows: a missing scale or a wrong softmax axis shows clearly
        for label, mask, kw in (("no mask", None, {}), ("causal mask", causal_mask(t, tk, np.float64), {}),
                                ("causal mask, scale=0.3", causal_mask(t, tk, np.float64), {"scale": 0.3}),
                                ("scale=False", None, {"scale": False})):
            what = f"q{(*batch, t, dk)} k{(*batch, tk, dk)} v{(*batch, tk, dv)}, {label}"
            grads = []
            results = []
            for side in (learner, reference):
                tq, tk_, tv = (
                    Tensor(q, requires_grad=True),
                    Tensor(k, requires_grad=True),
                    Tensor(v, requires_grad=True),
                )
                y, w = side.attention(tq, tk_, tv, mask, **kw)
                results.append((y.data, w.data))
                (y * Tensor(np.cos(np.arange(y.data.size)).reshape(y.shape))).sum().backward()
                grads.append([g.grad for g in (tq, tk_, tv)])
            out += compare("attention", f"output, {what}", results[0][0], results[1][0])
            out += compare("attention", f"weights, {what}", results[0][1], results[1][1])
            for name, g, gw in zip("qkv", grads[0], grads[1], strict=True):
                out += compare("attention", f"gradient reaching {name}, {what}", g, gw, rtol=1e-7, atol=1e-10)
    # plain arrays are lifted to Tensors
    q, k, v = _qkv(rng, (), 4, 4, 8, 8)
    got = learner.attention(q, k, v, causal_mask(4, dtype=np.float64))
    want = reference.attention(q, k, v, causal_mask(4, dtype=np.float64))
    out += compare("attention", "NumPy arrays in", got[0].data, want[0].data)
    return out


def heads(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for d, h, b, t in ((8, 2, 1, 5), (12, 3, 2, 4), (16, 4, 3, 1), (6, 1, 2, 3)):
        mha = MultiHeadAttention(d, h, seed=int(rng.integers(1 << 30)), dtype=np.float64)
        x = Tensor(rng.normal(size=(b, t, d)))
        with learner:
            split = mha.split_heads(x)
        with reference:
            want = mha.split_heads(x)
        out += compare("MultiHeadAttention.split_heads", f"(B, T, d) = {(b, t, d)}, {h} heads", split.data, want.data)
        for i in range(h):  # head i owns columns i*d_head .. (i+1)*d_head - 1
            out += compare("MultiHeadAttention.split_heads", f"head {i} is column block {i} of d = {d}",
                           split.data[:, i], x.data[..., i * (d // h):(i + 1) * (d // h)])
        y = Tensor(rng.normal(size=(b, h, t, d // h)))
        with learner:
            merged = mha.merge_heads(y)
            back = mha.merge_heads(mha.split_heads(x))
        with reference:
            want_m = mha.merge_heads(y)
        out += compare(
            "MultiHeadAttention.merge_heads", f"(B, H, T, d_head) = {(b, h, t, d // h)}", merged.data, want_m.data
        )
        out += compare("MultiHeadAttention.merge_heads", "merge(split(x)) gives x back", back.data, x.data)
        xs = rng.normal(size=(t, d))
        for causal in (False, True):
            with learner:
                got = mha(xs, causal=causal).data
            with reference:
                ref = mha(xs, causal=causal).data
            out += compare(
                "MultiHeadAttention.split_heads", f"full forward of {h}-head attention, causal={causal}", got, ref
            )
    return out


def mask(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for t, tk in ((1, 1), (1, 6), (4, 4), (3, 7), (8, 8), (2, 5)):
        got = learner.causal_mask(t, tk)
        out += compare("causal_mask", f"T = {t}, T_k = {tk}", got, reference.causal_mask(t, tk))
        rule = np.where(np.arange(tk)[None, :] <= np.arange(t)[:, None] + tk - t, 0.0, MASK_VALUE).astype(np.float32)
        out += compare("causal_mask", f"T = {t}, T_k = {tk} against j <= i + T_k - T", got, rule)
    out += compare("causal_mask", "T = 5 with T_k left out", learner.causal_mask(5), reference.causal_mask(5))
    out += compare("causal_mask", "dtype float64", learner.causal_mask(3, 3, np.float64),
                   reference.causal_mask(3, 3, np.float64))
    return out
