"""Phase 17 probes: the Pre-LN block and its FFN, the closed-form parameter count, causal self-attention.

Blocks are float64 with random (non-default) norm gains and biases so a swapped norm, a missing
residual or a missing bias shows; T = 1 is included. The closed form is checked against the
reference formula and against counting a real model's tensors, for random shapes and both
norm variants. Self-attention is compared with and without causality, a padding mask, RoPE,
and through the KV-cache path at a start position > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.infer.kv_cache import KVCache
from engine.lm.models.gpt import CausalSelfAttention, MiniGPT, MiniGPTConfig, TransformerBlock, inventory
from engine.scratch.autograd.tensor import Tensor, no_grad
from workbench.exercises.probes._compare import compare


def _randomise(module: Any, rng: np.random.Generator) -> None:
    for _, p in module.named_parameters():
        p.data[...] = rng.normal(0.0, 0.4, size=p.shape)


def block(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for d, h, f, t, norm, bias in (
        (8, 2, 16, 5, "layer", True),
        (12, 3, 8, 1, "layer", True),
        (8, 1, 32, 4, "rms", False),
    ):
        cfg = MiniGPTConfig(d_model=d, n_heads=h, d_ff=f, n_layers=1, vocab_size=8, context_len=8, norm=norm,
                            ffn_bias=bias)
        blk = TransformerBlock(cfg, rng=np.random.default_rng(int(rng.integers(1 << 30))), dtype=np.float64)
        _randomise(blk, rng)
        x = rng.normal(size=(2, t, d))
        what = f"d={d}, heads={h}, d_ff={f}, T={t}, norm={norm}, bias={bias}"
        with learner:
            got_ffn = blk.ffn(Tensor(x)).data
            got = blk(Tensor(x)).data
        with reference:
            want_ffn = blk.ffn(Tensor(x)).data
            want = blk(Tensor(x)).data
        out += compare("FFN.forward", what, got_ffn, want_ffn)
        out += compare("TransformerBlock.forward", what, got, want)
        # gradients through the block reach every parameter the same way
        grads = []
        for side in (learner, reference):
            blk.zero_grad()
            with side:
                (blk(Tensor(x)) * Tensor(np.sin(np.arange(x.size)).reshape(x.shape))).sum().backward()
            grads.append({n: p.grad.copy() for n, p in blk.named_parameters() if p.grad is not None})
        out += compare("TransformerBlock.forward", f"parameters reached by backward, {what}", sorted(grads[0]),
                       sorted(grads[1]))
        for name in grads[1]:
            if name in grads[0]:
                out += compare("TransformerBlock.forward", f"gradient of {name}, {what}", grads[0][name],
                               grads[1][name], rtol=1e-7, atol=1e-10)
    return out


def params(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    configs = [MiniGPTConfig(), MiniGPTConfig(vocab_size=512, norm="rms", ffn_bias=False)]
    for _ in range(6):
        h = int(rng.choice([1, 2, 4]))
        configs.append(
            MiniGPTConfig(
                d_model=h * 2 * int(rng.integers(1, 6)),
                n_heads=h,
                n_layers=int(rng.integers(1, 5)),
                d_ff=int(rng.integers(1, 40)),
                vocab_size=int(rng.integers(3, 90)),
                norm=str(rng.choice(["layer", "rms"])),
                ffn_bias=bool(rng.integers(0, 2)),
            )
        )
    for c in configs:
        what = f"d={c.d_model}, L={c.n_layers}, d_ff={c.d_ff}, V={c.vocab_size}, norm={c.norm}, bias={c.ffn_bias}"
        got = learner.closed_form_params(c)
        out += compare("closed_form_params", what, got, reference.closed_form_params(c))
        out += compare("closed_form_params", f"{what} against counting the model's tensors", got,
                       sum(inventory(MiniGPT(c)).values()))
    return out


def self_attention(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for causal, use_rope in ((True, True), (True, False), (False, True)):
        cfg = MiniGPTConfig(d_model=16, n_heads=4, n_layers=1, d_ff=8, vocab_size=8, context_len=12, causal=causal,
                            rope=use_rope)
        attn = CausalSelfAttention(cfg, rng=np.random.default_rng(int(rng.integers(1 << 30))), dtype=np.float64)
        x = rng.normal(size=(2, 6, 16))
        keep = np.ones((2, 6), dtype=bool)
        keep[1, 4:] = False
        what = f"causal={causal}, rope={use_rope}"
        for label, kw in (("", {}), (", padding mask", {"pad_mask": keep})):
            with learner:
                got = attn(Tensor(x), **kw).data
                got_w = attn.last_weights
            with reference:
                want = attn(Tensor(x), **kw).data
                want_w = attn.last_weights
            out += compare("CausalSelfAttention.forward", f"output, {what}{label}", got, want)
            out += compare("CausalSelfAttention.forward", f"last_weights, {what}{label}", got_w, want_w)
        if not causal:
            continue
        # the cache path: prefill 4 rows, then decode rows 4 and 5 one at a time
        results = []
        for side in (learner, reference):
            cache = KVCache.allocate(layers=1, heads=4, head_dim=4, max_seq=12, batch=2, dtype=np.float64)
            with side, no_grad():
                pre = attn(Tensor(x[:, :4]), cache=cache, layer=0, start_pos=0).data
                d4 = attn(Tensor(x[:, 4:5]), cache=cache, layer=0, start_pos=4).data
                d5 = attn(Tensor(x[:, 5:6]), cache=cache, layer=0, start_pos=5).data
            results.append(np.concatenate([pre, d4, d5], axis=1))
        out += compare(
            "CausalSelfAttention.forward", f"prefill + two cached decode steps, {what}", results[0], results[1]
        )
        with reference:
            full = attn(Tensor(x)).data
        out += compare(
            "CausalSelfAttention.forward",
            f"cached decode equals the full forward, {what}",
            results[0],
            full,
            rtol=1e-9,
            atol=1e-11,
        )
    return out


def assemble(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """The whole model: embedding, blocks, final norm, tied head, on 1-D and batched ids, a padding mask,
    a cached decode step, and the two refusals (too long, id out of range)."""
    out: list[str] = []
    cfg = MiniGPTConfig(d_model=16, n_heads=2, n_layers=2, d_ff=24, vocab_size=11, context_len=9)
    model = MiniGPT(cfg, rng=np.random.default_rng(int(rng.integers(1 << 30))), dtype=np.float64)
    _randomise(model, rng)
    ids = rng.integers(0, 11, (2, 9))
    keep = np.ones((2, 9), dtype=bool)
    keep[0, 6:] = False
    cases: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("ids (T,)", (ids[0],), {}),
        ("ids (1,)", (ids[0, :1],), {}),
        ("ids (B, T)", (ids,), {}),
        ("ids (B, T) with a padding mask", (ids,), {"pad_mask": keep}),
    ]
    for label, args, kw in cases:
        results = []
        for side in (learner, reference):
            with side, no_grad():
                logits, outs = model.forward_with_layer_outputs(*args, **kw)
            results.append((logits.data, {k: v.data for k, v in outs.items()}))
        out += compare("MiniGPT.forward_with_layer_outputs", f"logits, {label}", results[0][0], results[1][0])
        out += compare("MiniGPT.forward_with_layer_outputs", f"layer output names, {label}", sorted(results[0][1]),
                       sorted(results[1][1]))
        for name, want in results[1][1].items():
            if name in results[0][1]:
                out += compare("MiniGPT.forward_with_layer_outputs", f"{name}, {label}", results[0][1][name], want)
    cached = []
    for side in (learner, reference):
        kv = KVCache.allocate(layers=2, heads=2, head_dim=8, max_seq=9, dtype=np.float64)
        with side, no_grad():
            model(ids[0, :5], cache=kv)
            cached.append(model(ids[0, 5:6], cache=kv, start_pos=5).data)
    out += compare("MiniGPT.forward_with_layer_outputs", "a cached decode step at position 5", cached[0], cached[1])
    for label, bad in (
        ("10 tokens with context_len 9", rng.integers(0, 11, 10)),
        ("an id equal to vocab_size", np.array([3, 11])),
        ("a negative id", np.array([-1, 2])),
    ):
        with learner:
            try:
                model(bad)
                out.append(f"MiniGPT.forward_with_layer_outputs: {label}: expected ValueError, got none")
            except ValueError:
                pass
    with learner:
        try:
            model(ids[0, :9])
        except ValueError as exc:
            out.append(f"MiniGPT.forward_with_layer_outputs: exactly context_len tokens must be accepted, got {exc}")
    return out
