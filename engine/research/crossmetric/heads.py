"""Per-head metrics of a TinyTransformer, all on the same batch.

    ablation      loss(head gated to 0) - loss: what the head is worth, measured directly
    gate_fisher   E_i[(d log p_i / d gate_h)^2] with the data's labels (gate at 1)
    taylor        |d L / d gate_h|: first-order estimate of the ablation drop (Michel et al., 2019)
    param_fisher  sum of a Fisher diagonal over the head's Q/K/V rows and O columns
    entropy       mean entropy (nats) of the head's attention rows over real query positions
    ov_norm       ||W_O[:, h] W_V[h, :]||_F, the size of the head's OV circuit
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from engine.research.crossmetric.fisher import LogProb, per_sample_grads
from engine.research.crossmetric.models import TinyTransformer, head_slices

Loss = Callable[[TinyTransformer], Tensor]


@torch.no_grad()
def ablation_drops(model: TinyTransformer, loss: Loss) -> Tensor:
    """(n_layers, n_heads) loss increase when each head's gate is set to 0, one at a time."""
    base = float(loss(model))
    gate = model.head_gate
    out = torch.zeros_like(gate)
    for layer, h in torch.cartesian_prod(torch.arange(gate.shape[0]), torch.arange(gate.shape[1])).tolist():
        gate[layer, h] = 0.0
        out[layer, h] = float(loss(model)) - base
        gate[layer, h] = 1.0
    return out


@torch.no_grad()
def ablation_by_weights(model: TinyTransformer, loss: Loss, layer: int, head: int) -> float:
    """The same ablation a second way: zero the head's columns of W_O instead of its gate."""
    base = float(loss(model))
    o = model.blocks[layer].o.weight
    dh = o.shape[1] // model.cfg.n_heads
    saved = o[:, head * dh : (head + 1) * dh].clone()
    o[:, head * dh : (head + 1) * dh] = 0.0
    drop = float(loss(model)) - base
    o[:, head * dh : (head + 1) * dh] = saved
    return drop


def gate_grads(model: TinyTransformer, logp: LogProb, x: Tensor, y: Tensor) -> Tensor:
    """Per-sequence gradients of log p wrt the head gates: (n, n_layers, n_heads)."""
    gate = {"head_gate": model.head_gate.detach().clone()}
    return per_sample_grads(logp, gate, x, y)["head_gate"].detach()


def param_slice_sums(diag: dict[str, Tensor], model: TinyTransformer) -> Tensor:
    """(n_layers, n_heads): a per-parameter diagonal (Fisher or Hessian) summed over each head's slices."""
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.float64)
    for (layer, h), parts in head_slices(model).items():
        out[layer, h] = sum(float(diag[name][idx].sum()) for name, idx in parts)
    return out


@torch.no_grad()
def attention_entropy(atts: list[Tensor], real: Tensor) -> Tensor:
    """(n_layers, n_heads) mean entropy of attention rows at real query positions (`real` is (n, T))."""
    rows = []
    for att in atts:  # (n, H, T, T)
        ent = -(att * att.clamp_min(1e-30).log()).sum(-1)  # (n, H, T)
        w = real.unsqueeze(1).to(ent.dtype)
        rows.append((ent * w).sum((0, 2)) / w.sum((0, 2)))
    return torch.stack(rows)


@torch.no_grad()
def ov_norms(model: TinyTransformer) -> Tensor:
    cfg = model.cfg
    dh = cfg.d_model // cfg.n_heads
    out = torch.zeros(cfg.n_layers, cfg.n_heads)
    for layer, block in enumerate(model.blocks):
        for h in range(cfg.n_heads):
            s = slice(h * dh, (h + 1) * dh)
            out[layer, h] = float((block.o.weight[:, s] @ block.v.weight[s, :]).norm())
    return out
