"""Phase 17 labs: one block by hand, Mini-GPT assembly, the exact parameter inventory, causality
by perturbation. The model is engine.lm.models.gpt (NumPy Tensor autograd, no training here).

Fault `no_causal_mask` (the phase's break): the model is built with causal=False, so every
position attends to the whole sequence and earlier logits move when a later token changes.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.lm.infer.kv_cache import KVCache
from engine.lm.models.gpt import (
    MiniGPT,
    MiniGPTConfig,
    TransformerBlock,
    closed_form_params,
    component_counts,
    inventory,
)
from engine.scratch.autograd.tensor import Tensor, no_grad
from engine.scratch.nn import LayerNorm

FAULT = "no_causal_mask"
PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]
MODEL_KEYS = ("d_model", "n_heads", "n_layers", "d_ff", "vocab_size", "context_len")


def _model_cfg(cfg: dict, **over: Any) -> MiniGPTConfig:
    base = {k: int(cfg[k]) for k in MODEL_KEYS if k in cfg}
    return MiniGPTConfig(**{**base, "causal": cfg.get("fault") != FAULT, **over})


# ---------------------------------------------------------------------- lab 00: block by hand
def _fractional(shape: tuple[int, ...], offset: int) -> np.ndarray:
    """Fixed fractional values in [-0.5, 0.5): a reproducible 'hand' parameter set."""
    n = int(np.prod(shape))
    return (((np.arange(n) * 7 + offset) % 11) / 10.0 - 0.5).reshape(shape)


def _hand_block(x: list[list[float]], p: dict[str, np.ndarray], eps: float) -> list[list[float]]:
    """The block in plain Python loops (float64): LN, one causal head, residual, LN, GELU FFN, residual."""
    d = len(x[0])

    def ln(row: list[float], g: np.ndarray, b: np.ndarray) -> list[float]:
        mu = sum(row) / d
        var = sum((r - mu) ** 2 for r in row) / d
        return [float(g[i]) * (row[i] - mu) / math.sqrt(var + eps) + float(b[i]) for i in range(d)]

    def vecmat(v: list[float], w: np.ndarray) -> list[float]:  # v @ w, w (in, out)
        return [sum(v[i] * float(w[i, j]) for i in range(len(v))) for j in range(w.shape[1])]

    def gelu(z: float) -> float:
        return 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))

    h = [ln(r, p["ln1.weight"], p["ln1.bias"]) for r in x]
    q = [vecmat(r, p["attn.W_q"]) for r in h]
    k = [vecmat(r, p["attn.W_k"]) for r in h]
    v = [vecmat(r, p["attn.W_v"]) for r in h]
    out = []
    for i in range(len(x)):
        s = [sum(q[i][c] * k[j][c] for c in range(d)) / math.sqrt(d) for j in range(i + 1)]
        m = max(s)
        e = [math.exp(z - m) for z in s]
        a = [z / sum(e) for z in e]
        y = [sum(a[j] * v[j][c] for j in range(i + 1)) for c in range(d)]
        out.append([x[i][c] + o for c, o in enumerate(vecmat(y, p["attn.W_o"]))])
    final = []
    for r in out:
        h2 = ln(r, p["ln2.weight"], p["ln2.bias"])
        w1, b1, w2, b2 = p["ffn.w1"], p["ffn.b1"], p["ffn.w2"], p["ffn.b2"]  # w stored (out, in)
        mid = [gelu(sum(h2[i] * float(w1[j, i]) for i in range(d)) + float(b1[j])) for j in range(w1.shape[0])]
        f = [sum(mid[j] * float(w2[c, j]) for j in range(len(mid))) + float(b2[c]) for c in range(d)]
        final.append([r[c] + f[c] for c in range(d)])
    return final


def block_by_hand(cfg: dict, rec: Recorder) -> dict:
    """A d=4, 1-head, d_ff=8, T=2 block with fixed fractional parameters against a loop reference."""
    d, h, f, t = int(cfg["d_model"]), int(cfg["n_heads"]), int(cfg["d_ff"]), int(cfg["T"])
    mcfg = MiniGPTConfig(d_model=d, n_heads=h, d_ff=f, n_layers=1, vocab_size=8, context_len=t, rope=False,
                         causal=cfg.get("fault") != FAULT)
    block = TransformerBlock(mcfg, dtype=np.float64)
    params: dict[str, np.ndarray] = {}
    for i, (name, p) in enumerate(block.named_parameters()):
        p.data[...] = _fractional(p.shape, i)
        params[name] = p.data
    x = _fractional((t, d), 5) * 2.0
    with no_grad():
        got = block(Tensor(x[None]))[0].data
    ref = np.asarray(_hand_block(x.tolist(), params, mcfg.ln_eps))
    diff = float(np.abs(got - ref).max())
    rec.log(0, stage="hand", max_abs_diff=diff)
    # LayerNorm properties on random rows
    rng = np.random.default_rng(cfg["seed"])
    z = Tensor(rng.normal(3.0, 2.5, size=(16, 64)))
    ln = LayerNorm(64, dtype=np.float64)
    y = ln(z).data
    ln.weight.data[...] = 2.0
    ln.bias.data[...] = 5.0
    y2 = ln(z).data
    # all-zero block: LN gives beta = 0, so attention and FFN add nothing
    zero = TransformerBlock(MiniGPTConfig(d_model=64, n_heads=4, d_ff=256, n_layers=1, vocab_size=8, context_len=16))
    for p in zero.parameters():
        p.data[...] = 0.0
    xin = Tensor(rng.normal(size=(2, 16, 64)).astype(np.float32))
    with no_grad():
        zdiff = float(np.abs(zero(xin).data - xin.data).max())
    rec.log(1, stage="ln", ln_mean=float(np.abs(y.mean(-1)).max()), ln_var=float(y.var(-1).mean()))
    return {
        "hand_reference_max_abs_diff": diff,
        "ln_mean_max_abs": float(np.abs(y.mean(-1)).max()),
        "ln_var_mean": float(y.var(-1).mean()),
        "ln_scaled_mean": float(y2.mean()),
        "ln_scaled_var": float(y2.var(-1).mean()),
        "zero_block_identity_diff": zdiff,
    }


# ---------------------------------------------------------------------- lab 01: assemble
def assemble(cfg: dict, rec: Recorder) -> dict:
    """Build the locked config, run the 8-token prompt, probe prefix influence and RoPE."""
    mcfg = _model_cfg(cfg)
    model = MiniGPT(mcfg, rng=np.random.default_rng(cfg["seed"]))
    ids = np.asarray(cfg["tokens"])
    with no_grad():
        t0 = time.perf_counter()
        logits = model(ids).data
        ms = (time.perf_counter() - t0) * 1000
        changed = ids.copy()
        changed[0] = (changed[0] + 7) % mcfg.vocab_size
        logits_b = model(changed).data
        norope = MiniGPT(_model_cfg(cfg, rope=False), rng=np.random.default_rng(cfg["seed"]))
        logits_c = norope(ids).data
    top5 = [int(i) for i in np.argsort(-logits[-1])[:5]]
    rec.note(f"forward of {len(ids)} tokens took {ms:.2f} ms; top-5 ids at the last position {top5}")
    for pos in range(len(ids)):
        rec.log(pos, stage="prefix", position=pos, l2_change=float(np.linalg.norm(logits_b[pos] - logits[pos])))
    return {
        "logits_shape": list(logits.shape),
        "logits_shape_ok": list(logits.shape) == [len(ids), mcfg.vocab_size],
        "prefix_change_reaches_last_position": bool(np.abs(logits_b[-1] - logits[-1]).max() > 0),
        "rope_on_off_l2": float(np.linalg.norm(logits - logits_c)),
        "logits_finite": bool(np.isfinite(logits).all()),
        "top5_last_position": top5,
        "unique_params": model.num_parameters(),
        "layer_by_layer_max_abs_diff": _layer_by_layer_diff(model, ids, logits),
        "cached_decode_vs_full_rel_diff": _cached_vs_full(model, ids),
        "context_len_tokens_accepted": _accepts(model, np.arange(mcfg.context_len) % mcfg.vocab_size),
        "negative_id_refused": not _accepts(model, np.array([1, -1])),
    }


def _layer_by_layer_diff(model: MiniGPT, ids: np.ndarray, logits: np.ndarray) -> float:
    """The forward composed by hand from the model's parts (E, blocks, final norm, E^T) against model(ids)."""
    with no_grad():
        h = model.E[ids[None, :]]
        for i, block in enumerate(model.blocks):
            h = block(h, None, None, i, 0)
        by_hand = (model.ln_final(h) @ model.E.T).data[0]
    return float(np.abs(by_hand - logits).max())


def _accepts(model: MiniGPT, ids: np.ndarray) -> bool:
    try:
        with no_grad():
            model(ids)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------- lab 02: inventory
def parameter_inventory(cfg: dict, rec: Recorder) -> dict:
    """Count by name, compare with the closed form, group for the bar chart, add the variants."""
    mcfg = _model_cfg(cfg)
    model = MiniGPT(mcfg, rng=np.random.default_rng(cfg["seed"]))
    inv = inventory(model)
    total = sum(inv.values())
    groups = component_counts(model)
    for i, (name, n) in enumerate(groups.items()):
        rec.log(i, stage="inventory", component=name, params=n)
    theory = MiniGPTConfig(d_model=mcfg.d_model, n_heads=mcfg.n_heads, n_layers=mcfg.n_layers, d_ff=mcfg.d_ff,
                           vocab_size=512, context_len=mcfg.context_len, norm="rms", ffn_bias=False)
    theory_count = sum(inventory(MiniGPT(theory)).values())
    medium = closed_form_params(MiniGPTConfig(d_model=128, n_heads=4, n_layers=4, d_ff=512, vocab_size=64))
    large = closed_form_params(MiniGPTConfig(d_model=256, n_heads=4, n_layers=6, d_ff=1024, vocab_size=64))
    aliased = MiniGPT(mcfg, rng=np.random.default_rng(cfg["seed"]))
    aliased.tied_head_alias = aliased.E   # the same tensor registered under a second name, as a tied head may be
    block_total = sum(v for k, v in inv.items() if k.startswith("block_0."))
    ffn_block = sum(v for k, v in inv.items() if k.startswith("block_0.ffn."))
    return {
        "total_params": total,
        "closed_form": closed_form_params(mcfg),
        "total_matches_closed_form": total == closed_form_params(mcfg),
        "rope_tables_are_parameters": any("rope" in k for k in inv),
        "shared_tensor_counted_once": sum(inventory(aliased).values()) == total,
        "theory_variant_params": theory_count,
        "theory_variant_closed_form": closed_form_params(theory),
        "ffn_share_of_block": round(ffn_block / block_total, 4),
        "ffn_share_of_total": round(groups["ffn"] / total, 4),
        "fp32_bytes": total * 4,
        "medium_params": medium,
        "large_params": large,
        "inventory": inv,
    }


# ---------------------------------------------------------------------- lab 03: causality
def _perturb_once(model: MiniGPT, ids: np.ndarray, k: int, offset: int) -> tuple[float, bool]:
    changed = ids.copy()
    changed[k] = (changed[k] + offset) % model.cfg.vocab_size
    with no_grad():
        a, b = model(ids).data, model(changed).data
    before = float(np.abs(a[:k] - b[:k]).max()) if k > 0 else 0.0
    return before, bool(np.abs(a[k:] - b[k:]).max() > 0)


def _cached_vs_full(model: MiniGPT, ids: np.ndarray, prefill: int = 4) -> float:
    """Prefill `prefill` tokens into a KV cache, decode the rest one at a time: relative gap to one full forward."""
    c = model.cfg
    kv = KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len)
    with no_grad():
        full = model(ids).data
        parts = [model(ids[:prefill], cache=kv).data]
        parts += [model(ids[t:t + 1], cache=kv, start_pos=t).data for t in range(prefill, len(ids))]
    return float(np.abs(np.concatenate(parts, axis=0) - full).max() / np.abs(full).max())


def causality(cfg: dict, rec: Recorder) -> dict:
    """Change the token at k; positions < k must not move (atol 1e-8), some position >= k must."""
    mcfg = _model_cfg(cfg, context_len=max(int(cfg["context_len"]), int(cfg["long_T"])))
    model = MiniGPT(mcfg, rng=np.random.default_rng(cfg["seed"]))
    ids = np.asarray(cfg["tokens"], dtype=np.int64)
    offset = int(cfg["perturb_offset"])
    atol = float(cfg["atol"])
    worst, failures, later_all = 0.0, 0, True
    for k in range(1, len(ids)):
        before, later = _perturb_once(model, ids, k, offset)
        rec.log(k, stage="sweep", T=len(ids), k=k, max_diff_before=before, later_changed=int(later))
        worst, later_all = max(worst, before), later_all and later
        failures += int(before > atol or not later)
    long_ids = np.random.default_rng(cfg["seed"]).integers(0, mcfg.vocab_size, int(cfg["long_T"]))
    for k in cfg["long_ks"]:
        before, later = _perturb_once(model, long_ids, int(k), offset)
        rec.log(int(k), stage="long", T=len(long_ids), k=int(k), max_diff_before=before, later_changed=int(later))
        worst, later_all = max(worst, before), later_all and later
        failures += int(before > atol or not later)
    out: dict[str, Any] = {"max_diff_before_perturbation": worst, "later_position_changed": later_all,
                           "sweep_failures": failures, "causal": mcfg.causal}
    if mcfg.causal:  # a cache only makes sense for a causal model
        out["cached_decode_vs_full_rel_diff"] = _cached_vs_full(model, ids)
    steps = int(cfg["train_probe_steps"])
    if steps > 0:
        out.update(_train_probe(mcfg.causal, steps, float(cfg["train_probe_lr"]), rec))
    return out


def _train_probe(causal: bool, steps: int, lr: float, rec: Recorder) -> dict[str, Any]:
    """Train briefly on the verb corpus and compare the training loss with its entropy floor.

    A causal model defines a distribution over sentences, so its token-mean loss on the training
    multiset can never go below H = sum_s c(s)(-log c(s)/N) / sum_s c(s)(len(s) - 1) (Gibbs).
    A model that can see the next token is not bound by it and heads for zero.
    """
    from collections import Counter

    from engine.core.threads import blas_threads
    from engine.lm.train.loop import evaluate, train_step
    from engine.lm.train.recipe import FULL, datasets, deep_merge, make_state

    config = deep_merge(FULL, {"model": {"causal": causal}, "optimizer": {"lr_max": lr, "lr_min": lr / 10},
                               "scheduler": {"warmup_steps": max(steps // 10, 1), "total_steps": steps}})
    data = datasets(config)
    counts = Counter(tuple(s) for s in data["train"])
    n = sum(counts.values())
    floor = sum(c * -math.log(c / n) for c in counts.values()) / sum(c * (len(s) - 1) for s, c in counts.items())
    state = make_state(config, data["train"])
    with blas_threads(1):
        for _ in range(steps):
            r = train_step(state)
            if state.step % 10 == 0:
                rec.log(state.step, stage="train_probe", loss=r["loss"], entropy_floor=floor)
        train_loss, _ = evaluate(state.model, data["train"])
    return {"train_probe_loss": train_loss, "corpus_entropy_floor": floor,
            "train_loss_vs_entropy_floor": train_loss - floor, "train_loss_above_entropy_floor": train_loss >= floor}
