"""Checks on a LoRA-wrapped model: the merge is exact, the forward is the formula, the base did not move.

Kept apart from lora.py, sft.py and tutor.py on purpose: those files are in the phase-28/30/32 adapters'
code hash (engine.lm.models.registry), so an edit there rebuilds three cached adapters.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.torchstack.finetune.lora import LoRALinear, merge_all_


@torch.no_grad()
def merge_max_abs_diff(model: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float64) -> float:
    """max |merged(x) - unmerged(x)| on a copy of `model` cast to `dtype` (float64: the algebra without FP32
    rounding); the model itself is left as it was."""
    m = copy.deepcopy(model).to(dtype)
    before = m(x)
    merge_all_(m)
    return float((m(x) - before).abs().max())


@torch.no_grad()
def formula_error() -> float:
    """max |LoRALinear(x) - (W x + b + (alpha / r) B A x)| in float64 with hand-set A and B (r 2, alpha 3)."""
    probe = LoRALinear(nn.Linear(6, 5).double(), r=2, alpha=3.0)
    probe.A.copy_(torch.arange(12, dtype=torch.float64).reshape(2, 6) / 10)
    probe.B.copy_(torch.arange(10, dtype=torch.float64).reshape(5, 2) / 7)
    xs = torch.linspace(-1, 1, 18, dtype=torch.float64).reshape(3, 6)
    want = xs @ probe.base.weight.T + probe.base.bias + 1.5 * (xs @ probe.A.double().T @ probe.B.double().T)
    return float((probe(xs) - want).abs().max())


def rank_zero_rejected() -> bool:
    """LoRALinear refuses r = 0 unless asked (a rank-0 adapter trains nothing, silently)."""
    try:
        LoRALinear(nn.Linear(64, 64), r=0)
    except ValueError:
        return True
    return False


def base_is_frozen(model: nn.Module) -> bool:
    """No parameter outside the adapters' A and B requires grad."""
    return not any(p.requires_grad for n, p in model.named_parameters() if not n.endswith((".A", ".B")))


def base_drift(model: nn.Module, base: nn.Module, seen_rows: list[int]) -> dict[str, float]:
    """How far a wrapped model's base moved from `base`: every tensor but the embedding, and the embedding rows
    of tokens the base saw (rows of unseen tokens may train with the adapter)."""
    now = {n.replace(".base.", "."): p for n, p in model.state_dict().items() if not n.endswith((".A", ".B"))}
    rows = now["E"].detach()[seen_rows] - base.E.detach()[seen_rows]
    return {"base_max_abs_diff": max(float((now[n] - p).abs().max()) for n, p in base.state_dict().items()
                                     if n != "E"),
            "seen_embedding_rows_max_abs_diff": float(rows.abs().max())}
