"""A routed mixture-of-experts FFN on engine's Tensor autograd, with the Switch-style balancing loss.

Why: MoE grows parameters with the number of experts E while each token uses only k of them. A linear
router scores the experts, the top k keep their softmax weights (renormalised to sum to 1), and the
block returns the weighted sum of those experts' FFN outputs. Without pressure the router can send
most tokens to one expert, so training adds alpha x aux, where aux = E x sum_i f_i P_i (f_i: share of
routing slots given to expert i, P_i: mean router probability of i) is 1 for uniform routing and E
when one expert takes everything.

For clarity every expert runs on every token and the unchosen ones are weighted by 0: the outputs and
gradients are those of sparse dispatch, the FLOPs are not (a real MoE gathers each expert's tokens).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.models.gpt import FFN
from engine.scratch.autograd.tensor import Tensor, linear
from engine.scratch.nn import Module, Parameter, init


def balance_loss_value(f: np.ndarray, p: np.ndarray) -> float:
    """E x sum_i f_i P_i for routing-slot shares f and mean router probabilities p (both sum to 1)."""
    return float(len(f) * np.sum(f * p))


def top_k_mask(probs: np.ndarray, k: int) -> np.ndarray:
    """1 where an expert is among a token's k highest router probabilities (ties: lowest index first)."""
    idx = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    mask = np.zeros_like(probs)
    np.put_along_axis(mask, idx, 1.0, axis=-1)
    return mask


class MoEFFN(Module):
    def __init__(self, d_model: int, d_ff: int, num_experts: int, top_k: int, rng: np.random.Generator | None = None,
                 router_std: float = 0.02, dtype: Any = np.float32) -> None:
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError("need 1 <= top_k <= num_experts")
        self.num_experts, self.top_k = num_experts, top_k
        self.router = Parameter(np.zeros((num_experts, d_model)), dtype=dtype)
        init.normal_(self.router, router_std, rng=rng)
        for e in range(num_experts):
            setattr(self, f"expert{e}", FFN(d_model, d_ff, True, rng, dtype))
        self.aux: Tensor | None = None
        self.last_mask: np.ndarray | None = None  # (tokens, E) routing of the last forward

    def experts(self) -> list[FFN]:
        return [getattr(self, f"expert{e}") for e in range(self.num_experts)]

    def forward(self, x: Tensor) -> Tensor:
        probs = linear(x, self.router).softmax(-1)  # (..., E)
        mask = top_k_mask(probs.data, self.top_k)
        gates = probs * mask
        gates = gates / gates.sum(-1, keepdims=True)
        eye = np.eye(self.num_experts, dtype=x.data.dtype)
        out = None
        for e, expert in enumerate(self.experts()):
            term = (gates * eye[e]).sum(-1, keepdims=True) * expert(x)
            out = term if out is None else out + term
        flat = mask.reshape(-1, self.num_experts)
        f = flat.sum(0) / flat.sum()  # routing-slot shares: constants, as in Switch Transformer
        p_mean = probs.reshape(-1, self.num_experts).mean(0)
        self.aux = (p_mean * f.astype(x.data.dtype)).sum() * float(self.num_experts)
        self.last_mask = flat
        return out  # type: ignore[return-value]


def params_by_experts(d_model: int, d_ff: int, counts: tuple[int, ...] = (1, 2, 4, 8)) -> list[int]:
    """Parameter count of a top-1 MoE layer for each expert count: it should grow linearly in E."""
    return [sum(p.data.size for p in MoEFFN(d_model, d_ff, e, 1).parameters()) for e in counts]


def grows_linearly(sizes: list[int], counts: tuple[int, ...] = (1, 2, 4, 8)) -> bool:
    """Every step in `sizes` is the first step's per-expert increment times the step in `counts`."""
    per_expert = (sizes[1] - sizes[0]) // (counts[1] - counts[0])
    return all(b - a == per_expert * (eb - ea)
               for a, b, ea, eb in zip(sizes, sizes[1:], counts, counts[1:], strict=False))


def routing_probe(d_model: int, d_ff: int, num_experts: int, top_k: int, seed: int) -> dict[str, Any]:
    """Check one forward of a random MoE layer against a brute-force recomputation outside it.

    The router's softmax, the top-k choice and the renormalised gates are recomputed in NumPy from
    the layer's weights; the output must match, every token must be routed to exactly its k most
    probable experts, and the layer's `aux` must equal E x sum_i f_i P_i from the counted routing.
    """
    from engine.scratch.autograd.tensor import no_grad

    layer = MoEFFN(d_model, d_ff, num_experts, top_k, rng=np.random.default_rng(seed), router_std=1.0)
    x = Tensor(np.random.default_rng(seed + 1).normal(size=(3, 7, d_model)).astype(np.float32))
    with no_grad():
        y = layer(x).data
        logits = x.data @ layer.router.data.T
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        chosen = top_k_mask(probs, top_k)
        weights = probs * chosen / (probs * chosen).sum(-1, keepdims=True)
        manual = sum(weights[..., e:e + 1] * ex(x).data for e, ex in enumerate(layer.experts()))
    mask = layer.last_mask
    assert mask is not None and layer.aux is not None
    flat_p = probs.reshape(-1, num_experts)
    most_probable = all(
        mask[t].sum() == top_k and (mask[t].all() or flat_p[t][mask[t] == 1].min() >= flat_p[t][mask[t] == 0].max())
        for t in range(len(flat_p)))
    f_counted = mask.sum(0) / mask.sum()
    return {"routing_is_top_k": bool((mask.sum(1) == top_k).all() and np.allclose(y, manual, atol=1e-5)),
            "routed_experts_are_most_probable": bool(most_probable),
            "aux_loss_abs_err": abs(float(layer.aux.data) - num_experts * float(np.sum(f_counted * flat_p.mean(0))))}
