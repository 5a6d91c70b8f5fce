"""LoRA by hand: y = base(x) + (alpha / r) * B A dropout(x), with the base frozen and B = 0 at init.

A (r x d_in) starts Kaiming-uniform and B (d_out x r) starts at zero, so a freshly wrapped model
computes exactly what the base does. `merge_` folds (alpha / r) B A into the base weight and
zeroes the adapter. Rank 0 is rejected (the fix for phase 28's break) unless
`allow_rank_zero=True`, which reproduces the silent failure: empty A and B, B A = 0, nothing
to learn, and no error from the optimizer.

The adapter is a file of its own (safetensors: only the A and B tensors, plus metadata naming
the rank, alpha, targets and the base checkpoint's hash), so one frozen base can carry several
adapters (phase 28's tutor, phase 30's JSON, phase 32's planner) and each run can say which.

    model = wrap_minigpt_with_lora(base_copy, r=8, alpha=16.0)   # default targets: the spine's Linears
    ... train lora_parameters(model) ...
    save_adapter(model, path, {"base_hash": ...}); load_adapter(fresh_wrapped, path)
    merge_all_(model)   # fold into W: plain Linears again, same logits
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# the spine GPT's attention projections and FFN layers (engine.lm.models.gpt_torch): every Linear but a router
DEFAULT_TARGETS = ("W_q", "W_k", "W_v", "W_o", "ffn.w1", "ffn.w2")


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


def adapter_hash(state: dict[str, Tensor]) -> str:
    """sha256 (16 hex) over the adapter's names and float32 bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def adapter_config(model: nn.Module) -> dict[str, object]:
    """Rank, alpha and the wrapped module names: enough to rebuild the wrapping on a fresh base."""
    mods = {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}
    if not mods:
        raise ValueError("the model carries no LoRA modules")
    first = next(iter(mods.values()))
    return {"r": first.r, "alpha": first.alpha, "modules": sorted(mods)}


def save_adapter(model: nn.Module, path: str | Path, metadata: dict[str, object] | None = None) -> str:
    """Write only A and B (safetensors) with rank/alpha/modules/metadata as JSON; returns the adapter hash."""
    from engine.core import tensorfile

    state = {n: t.float().contiguous() for n, t in lora_state_dict(model).items()}
    digest = adapter_hash(state)
    meta = {"lora": json.dumps({**adapter_config(model), **(metadata or {}), "adapter_hash": digest})}
    tensorfile.save(state, path, meta)
    return digest


def read_adapter(path: str | Path) -> tuple[dict[str, Tensor], dict[str, object]]:
    """The adapter tensors and the metadata save_adapter wrote."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {})["lora"])
    return load_file(str(path)), meta


def load_adapter(base: nn.Module, path: str | Path, dropout: float = 0.0) -> nn.Module:
    """Wrap `base` (in place) as the file says and load its A and B; the hash is checked."""
    state, meta = read_adapter(path)
    if adapter_hash(state) != meta["adapter_hash"]:
        raise ValueError(f"adapter {path}: tensors do not match the recorded hash")
    modules = tuple(str(m) for m in meta["modules"])  # type: ignore[attr-defined]
    model = wrap_minigpt_with_lora(base, r=int(meta["r"]), alpha=float(meta["alpha"]),  # type: ignore[arg-type]
                                   target_modules=modules, dropout=dropout)
    load_lora_state_dict(model, state)
    return model.eval()
