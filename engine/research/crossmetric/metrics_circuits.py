"""Mechanistic metrics of decoder transformers (and integrated gradients for any model).

Conventions (row vectors, as TransformerLens): q_h = x W_Q[h], k_h = x W_K[h], z_h = A v_h, and the head
writes z_h W_O[h] to the residual stream. W_QK[h] = W_Q[h] W_K[h]^T and W_OV[h] = W_V[h] W_O[h] are d x d.

    induction_score_max     on random tokens repeated twice (block of induction_len), the attention a
                            query at position i in the second copy pays to i - S + 1, the token that
                            followed the earlier occurrence of its own token; max over heads
    prev_token_score_max    attention to position i - 1 on the same probe, max over heads
    ov_copying_score_mean   sum Re(lambda) / sum |lambda| over the eigenvalues of the full OV circuit
                            W_E W_OV W_U (Elhage et al. 2021): +1 copies tokens, -1 suppresses them
    qkov_{q,k,v}_composition_max  ||W_A W_B||_F / (||W_A||_F ||W_B||_F) for heads of earlier/later
                            layers: Q: W_OV1 W_QK2, K: W_OV1 W_QK2^T, V: W_OV1 W_OV2 (Elhage et al.)
    logit_lens_kl_mean      KL(final softmax || softmax(unembed(final_norm(resid after block l)))), mean
                            over positions and over every block but the last (nostalgebraist 2020)
    patching_recovery_mean  clean batch vs the same batch with the token at the middle position
                            changed; the clean residual at that position is patched into the corrupted
                            run after each block: recovery = 1 - KL(clean || patched) / KL(clean || corrupt)
                            over the positions from the changed one on; mean over blocks
    attention_*             entropy of attention rows, attention rollout (Abnar & Zuidema 2020) share
                            on the first token, mean query-key distance
    ig_*                    integrated gradients of the batch loss from a zero baseline (inputs, or the
                            first Embedding's output for token inputs), Gauss-Legendre in alpha; the
                            completeness axiom sum(attr) = L(x) - L(baseline) is reported as an error
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from engine.research.crossmetric import views
from engine.research.crossmetric.registry import Batch, has_attention, has_heads, is_transformer, register

NEED_VIEW = "a decoder transformer the scope recognises (views.view_of): TinyTransformer, GPT/TransformerLM"


def induction_scores(patterns: Tensor, block: int, offset: int = 0) -> Tensor:
    """(H,) mean attention from each query of the repeated copy to the token after its earlier occurrence.

    patterns (B, H, T, T); the random block occupies positions offset .. offset+block-1 and repeats right after."""
    qs = torch.arange(offset + block, offset + 2 * block)
    return patterns[:, :, qs, qs - block + 1].mean((0, 2))


def prev_token_scores(patterns: Tensor, offset: int = 0) -> Tensor:
    qs = torch.arange(max(1, offset), patterns.shape[-1])
    return patterns[:, :, qs, qs - 1].mean((0, 2))


def repeated_tokens(vocab: int, block: int, n: int, gen: torch.Generator) -> Tensor:
    r = torch.randint(0, vocab, (n, block), generator=gen)
    return torch.cat([r, r], 1)


def _probe_patterns(b: Batch) -> tuple[list[Tensor], int]:
    def build() -> tuple[list[Tensor], int]:
        v = b.view
        block = min(int(b.opts["induction_len"]), v.n_ctx // 2)
        ids = repeated_tokens(v.vocab, block, 8, b.gen).to(b.inputs.device)
        store: list[Tensor] = []
        with torch.no_grad(), views.capture_attention(b.model, store):
            b.model(ids)
        return store, block
    return b.cached("induction_probe", build)  # type: ignore[no-any-return]


@register("induction_score_max", (), "largest induction score of any head (repeated random tokens)", "circuits",
          applies=has_attention, requires=NEED_VIEW)
def _induction(b: Batch) -> float:
    pats, block = _probe_patterns(b)
    scores = torch.stack([induction_scores(p, block) for p in pats])
    b.details["induction_scores"] = scores.tolist()
    return float(scores.max())


@register("prev_token_score_max", (), "largest previous-token score of any head (same probe)", "circuits",
          applies=has_attention, requires=NEED_VIEW)
def _prev(b: Batch) -> float:
    pats, _ = _probe_patterns(b)
    scores = torch.stack([prev_token_scores(p) for p in pats])
    b.details["prev_token_scores"] = scores.tolist()
    return float(scores.max())


def ov_matrices(view: views.TransformerView) -> list[Tensor]:
    """W_OV per head, layer-major: (L*H, d, d)."""
    return [hw.W_V[h] @ hw.W_O[h] for hw in view.head_weights() for h in range(view.n_heads)]


def qk_matrices(view: views.TransformerView) -> list[Tensor]:
    return [hw.W_Q[h] @ hw.W_K[h].T for hw in view.head_weights() for h in range(view.n_heads)]


def copying_score(w_e: Tensor, w_ov: Tensor, w_u: Tensor) -> float:
    """Eigenvalues of W_E W_OV W_U (V x V) equal the non-zero ones of W_OV W_U W_E (d x d)."""
    lam = torch.linalg.eigvals((w_ov @ w_u @ w_e).double())
    return float(lam.real.sum() / lam.abs().sum())


def composition_score(w_a: Tensor, w_b: Tensor) -> float:
    return float((w_a @ w_b).norm() / (w_a.norm() * w_b.norm()))


@register("ov_copying_score_mean", (), "mean over heads of the OV circuit's copying score (eigenvalue sign share)",
          "circuits", applies=has_heads, requires=NEED_VIEW + " with plain Q/K/V/O projections")
def _copying(b: Batch) -> float:
    v = b.view
    s = [copying_score(v.W_E, m, v.W_U) for m in ov_matrices(v)]
    b.details["ov_copying_scores"] = s
    return float(np.mean(s))


def composition_max(view: views.TransformerView, kind: str) -> float:
    ov, qk, h = ov_matrices(view), qk_matrices(view), view.n_heads
    best = float("nan")
    for i in range(len(ov)):
        for j in range(len(ov)):
            if j // h <= i // h:     # later layer only
                continue
            wb = {"q": qk[j], "k": qk[j].T, "v": ov[j]}[kind]
            s = composition_score(ov[i], wb)
            best = s if best != best or s > best else best
    return best


for _kind in ("q", "k", "v"):
    register(f"qkov_{_kind}_composition_max", (), f"largest {_kind.upper()}-composition score between a head and a "
             "head of a later layer", "circuits", applies=has_heads,
             requires=NEED_VIEW + " with plain Q/K/V/O projections and >= 2 layers")(
        lambda b, k=_kind: composition_max(b.view, k))


def lens_logits(b: Batch) -> list[Tensor]:
    with torch.no_grad():
        return [b.view.final(r) for r in b.residuals]


def _kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) per row of the last axis."""
    lp, lq = p_logits.double().log_softmax(-1), q_logits.double().log_softmax(-1)
    return (lp.exp() * (lp - lq)).sum(-1)


@register("logit_lens_kl_mean", ("residuals",), "mean KL(final || logit lens) over blocks but the last",
          "circuits", applies=is_transformer, requires=NEED_VIEW)
def _lens_kl(b: Batch) -> float:
    lens = lens_logits(b)
    kls = [float(_kl(b.output, z).mean()) for z in lens]
    b.details["logit_lens_kl"] = kls
    return float(np.mean(kls[:-1])) if len(kls) > 1 else float("nan")


@register("logit_lens_top1_agreement", ("residuals",), "share of positions whose logit-lens arg-max equals the "
          "final arg-max, mean over blocks but the last", "circuits", applies=is_transformer, requires=NEED_VIEW)
def _lens_top1(b: Batch) -> float:
    lens = lens_logits(b)
    final = b.output.argmax(-1)
    agree = [float((z.argmax(-1) == final).double().mean()) for z in lens[:-1]]
    return float(np.mean(agree)) if agree else float("nan")


def patch_recovery(view: views.TransformerView, model: nn.Module, clean: Tensor, pos: int, layer: int,
                   every_position: bool = False) -> float:
    """1 - KL(clean || patched) / KL(clean || corrupted) over positions >= pos (see the module docstring)."""
    corrupt = clean.clone()
    corrupt[:, pos] = (corrupt[:, pos] + 1) % view.vocab
    store: list[Tensor] = []
    with torch.no_grad():
        with view.residuals(store):
            clean_logits = model(clean)
        if layer < 0:       # block 0's input: capture it with a pre-hook
            inp: list[Tensor] = []
            h = view.blocks[0].register_forward_pre_hook(lambda _m, a: inp.append(a[0].detach()))
            model(clean)
            h.remove()
            src = inp[0]
        else:
            src = store[layer]
        bad = _kl(clean_logits[:, pos:], model(corrupt)[:, pos:]).mean()

        def put(r: Tensor) -> Tensor:
            r = r.clone()
            if every_position:
                return src.clone()
            r[:, pos] = src[:, pos]
            return r

        with view.patched(layer, put):
            fixed = _kl(clean_logits[:, pos:], model(corrupt)[:, pos:]).mean()
    return float(1 - fixed / bad) if float(bad) > 0 else float("nan")


@register("patching_recovery_mean", (), "activation patching at the middle position: recovered share of the "
          "corruption's KL, mean over blocks", "circuits", applies=is_transformer, requires=NEED_VIEW)
def _patching(b: Batch) -> float:
    if b.inputs.is_floating_point():
        return float("nan")
    pos = b.inputs.shape[1] // 2
    rec = [patch_recovery(b.view, b.model, b.inputs, pos, layer) for layer in range(len(b.view.blocks))]
    b.details["patching_recovery"] = rec
    return float(np.mean(rec))


def _att(b: Batch) -> Tensor:
    return torch.stack(b.attention).double()  # (L, B, H, T, T)


@register("attention_entropy_mean", ("attention",), "mean entropy (nats) of attention rows, every head and query",
          "attention", applies=has_attention, requires=NEED_VIEW)
def _att_entropy(b: Batch) -> float:
    a = _att(b)
    return float(-(a * a.clamp_min(1e-300).log()).sum(-1).mean())


def rollout(patterns: list[Tensor]) -> Tensor:
    """(B, T, T) attention rollout: prod over layers of row-normalised (0.5 mean_heads(A) + 0.5 I)."""
    out = None
    for a in patterns:
        m = a.double().mean(1)
        m = 0.5 * m + 0.5 * torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
        m = m / m.sum(-1, keepdim=True)
        out = m if out is None else m @ out
    assert out is not None
    return out


@register("attention_rollout_first", ("attention",), "mean share of attention rollout on the first position",
          "attention", applies=has_attention, requires=NEED_VIEW)
def _rollout(b: Batch) -> float:
    return float(rollout(b.attention)[..., 0].mean())


@register("attention_distance_mean", ("attention",), "mean query-key distance sum_k A[q,k] (q-k), every head",
          "attention", applies=has_attention, requires=NEED_VIEW)
def _distance(b: Batch) -> float:
    a = _att(b)
    t = a.shape[-1]
    dist = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).clamp_min(0).to(a)
    return float((a * dist).sum(-1).mean())


def integrated_gradients(model: nn.Module, loss: callable, x: Tensor, steps: int) -> tuple[Tensor, float, float]:  # type: ignore[valid-type]
    """(attributions shaped like the attributed tensor, L(x), L(baseline)) with a zero baseline.

    Float inputs are attributed directly; token inputs through the first nn.Embedding's output."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, ws = (nodes + 1) / 2, weights / 2
    emb = None if x.is_floating_point() else next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if emb is None and not x.is_floating_point():
        raise ValueError("integrated gradients: token inputs but no nn.Embedding to attribute through")

    def at(alpha: float) -> tuple[Tensor, Tensor, Tensor]:
        if emb is None:
            z = (alpha * x).detach().requires_grad_()
            value = loss(model(z))
            return value, torch.autograd.grad(value, z)[0], x
        box: list[Tensor] = []

        def hook(_m: nn.Module, _i: object, out: Tensor) -> Tensor:
            box.append(out.detach())
            z = (alpha * out.detach()).requires_grad_()
            box.append(z)
            return z
        h = emb.register_forward_hook(hook)
        try:
            value = loss(model(x))
        finally:
            h.remove()
        return value, torch.autograd.grad(value, box[1])[0], box[0]

    total = None
    for a, w in zip(alphas, ws, strict=True):
        _, g, ref = at(float(a))
        total = w * g if total is None else total + w * g
    value1, _, ref = at(1.0)
    value0, _, _ = at(0.0)
    return (ref * total).detach(), float(value1.detach()), float(value0.detach())


def _ig(b: Batch) -> tuple[Tensor, float, float]:
    assert b.loss_fn is not None
    return b.cached("ig", lambda: integrated_gradients(b.model, lambda out: b.loss_fn(out, b.targets), b.inputs,
                                                       int(b.opts["ig_steps"])))


@register("ig_completeness_error", (), "|sum IG attributions - (L(x) - L(0))| / |L(x) - L(0)| (the axiom's check)",
          "attribution")
def _ig_err(b: Batch) -> float:
    attr, full, base = _ig(b)
    return abs(float(attr.sum()) - (full - base)) / max(abs(full - base), 1e-30)


@register("ig_top_share", (), "share of |IG attribution| on the top 10% of input features (tokens for LMs)",
          "attribution")
def _ig_top(b: Batch) -> float:
    attr, _, _ = _ig(b)
    per = attr.abs().reshape(-1, attr.shape[-1]).sum(-1) if not b.inputs.is_floating_point() else attr.abs().reshape(-1)
    s = per.sort(descending=True).values
    k = max(1, round(0.1 * len(s)))
    return float(s[:k].sum() / s.sum().clamp_min(1e-30))
