"""LoRA by hand: y = base(x) + (alpha / r) * B A dropout(x), with the base frozen and B = 0 at init.

A (r x d_in) starts Kaiming-uniform and B (d_out x r) starts at zero, so a freshly wrapped model
computes exactly what the base does. `merge_` folds (alpha / r) B A into the base weight and
zeroes the adapter. Rank 0 is rejected (the fix for phase 28's break) unless
`allow_rank_zero=True`, which reproduces the silent failure: empty A and B, B A = 0, nothing
to learn, and no error from the optimizer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "mlp.fc1", "mlp.fc2")


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                 freeze_base: bool = True, allow_rank_zero: bool = False) -> None:
        super().__init__()
        if r < 1 and not allow_rank_zero:
            raise ValueError(f"LoRA rank must be >= 1, got {r}: a rank-0 adapter has nothing to train")
        self.base, self.r, self.alpha = base, r, alpha
        self.in_features, self.out_features = int(base.in_features), int(base.out_features)
        self.scaling = alpha / r if r > 0 else 0.0
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        dev = next(base.buffers(), next(base.parameters(), torch.empty(0))).device
        self.A = nn.Parameter(torch.empty(r, self.in_features, device=dev))
        self.B = nn.Parameter(torch.zeros(self.out_features, r, device=dev))
        if r > 0:
            nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        if freeze_base:
            for p in base.parameters():
                p.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        base = self.base
        if isinstance(base, nn.Linear) and base.weight.dtype != x.dtype:  # an FP16-stored frozen base
            y = F.linear(x, base.weight.to(x.dtype), None if base.bias is None else base.bias.to(x.dtype))
        else:
            y = base(x)
        # at rank 0 the two matmuls are empty and add exact zeros, still on the autograd graph
        return y + self.scaling * F.linear(F.linear(self.dropout(x), self.A.to(x.dtype)), self.B.to(x.dtype))

    def delta_weight(self) -> Tensor:
        return self.scaling * (self.B @ self.A)

    @torch.no_grad()
    def merge_(self) -> None:
        """W += (alpha / r) B A, then A = B = 0 (needs a float nn.Linear base)."""
        if not isinstance(self.base, nn.Linear):
            raise TypeError("merge_ needs a float nn.Linear base (dequantize a quantized base first)")
        self.base.weight += self.delta_weight().to(self.base.weight.dtype)
        self.A.zero_()
        self.B.zero_()

    def extra_repr(self) -> str:
        return f"rank={self.r}, alpha={self.alpha}, trainable={self.A.numel() + self.B.numel()}"


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def wrap_minigpt_with_lora(model: nn.Module, r: int = 8, alpha: float = 16.0,
                           target_modules: tuple[str, ...] = DEFAULT_TARGETS, dropout: float = 0.05,
                           allow_rank_zero: bool = False) -> nn.Module:
    """Wrap every Linear-like module whose name ends with a target; freeze everything else. In place."""
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, m in model.named_modules()
             if hasattr(m, "in_features") and not isinstance(m, LoRALinear) and n.endswith(target_modules)]
    for name in names:
        _set_module(model, name, LoRALinear(model.get_submodule(name), r, alpha, dropout,
                                            allow_rank_zero=allow_rank_zero))
    return model


def lora_modules(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for m in lora_modules(model) for p in (m.A, m.B)]


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter tensors (names ending in .A / .B), detached copies."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith((".A", ".B"))}


@torch.no_grad()
def load_lora_state_dict(model: nn.Module, state: dict[str, Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in params if n.endswith((".A", ".B")) and n not in state]
    if missing:
        raise KeyError(f"adapter state lacks {missing[:3]}...")
    for n, t in state.items():
        params[n].copy_(t)


def merge_all_(model: nn.Module) -> None:
    for m in lora_modules(model):
        m.merge_()
