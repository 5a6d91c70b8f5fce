"""QLoRA: quantize the frozen base to NF4 (groups of 64) first, then put FP32 LoRA adapters on top.

The base Linears become QuantizedLinear(scheme="nf4_per_group_64"), holding 4-bit code indices
and FP16 absmax scales; gradients flow through the dequantized weight into the adapter only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from engine.lm.train import spine
from engine.torchstack.finetune.lora import (
    DEFAULT_TARGETS,
    load_lora_state_dict,
    lora_modules,
    lora_parameters,
    lora_state_dict,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.sft import Row, fit_rows
from engine.torchstack.quant.qlinear import quantize_model


def wrap_minigpt_qlora(model: nn.Module, r: int = 8, alpha: float = 16.0, quant_scheme: str = "nf4_per_group_64",
                       target_modules: tuple[str, ...] = DEFAULT_TARGETS, dropout: float = 0.05) -> nn.Module:
    """A new model: NF4 base (embedding rounded to FP16, LayerNorm untouched) + LoRA on the targets."""
    q = quantize_model(model, quant_scheme)
    return wrap_minigpt_with_lora(q, r=r, alpha=alpha, target_modules=target_modules, dropout=dropout)


def tensor_bytes(model: nn.Module, optimizer_state: dict | None = None) -> int:
    """Bytes held by parameters, buffers, gradients and optimizer state: what training keeps resident."""
    seen: set[int] = set()
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
            if getattr(t, "grad", None) is not None:
                total += t.grad.numel() * t.grad.element_size()
    for state in (optimizer_state or {}).values():
        for v in state.values():
            if hasattr(v, "numel"):
                total += v.numel() * v.element_size()
    return total


def fp16_and_nf4_pair(base: nn.Module, r: int, alpha: float, quant_scheme: str,
                      seed: int) -> tuple[nn.Module, nn.Module]:
    """Two copies of `base` with the same adapter: A has FP16-stored base Linears, B the quantized base. The
    frozen tied embedding is FP32 in A and FP16-rounded in B (restored from `base` here); B = N(0, 0.02) so the
    adapter acts."""
    a = wrap_minigpt_with_lora(spine.fresh_copy(base), r=r, alpha=alpha, dropout=0.0)
    for m in lora_modules(a):
        m.base.half()
    b = wrap_minigpt_qlora(spine.fresh_copy(base), r=r, alpha=alpha, quant_scheme=quant_scheme, dropout=0.0)
    for model in (a, b):
        model.E.requires_grad_(False)
    with torch.no_grad():
        b.E.copy_(base.E)
        gen = torch.Generator().manual_seed(seed)
        for m in lora_modules(a):
            m.B.copy_(torch.randn(m.B.shape, generator=gen) * 0.02)
        load_lora_state_dict(b, lora_state_dict(a))
    return a, b


def train_measuring_memory(model: nn.Module, rows: Sequence[Row], *, pad: int, steps: int, lr: float, batch: int,
                           seed: int, on_step: Callable[[int, float], None] | None = None) -> tuple[list[float], int]:
    """AdamW at a constant lr on the adapter, seeded batches; returns the losses and the resident tensor bytes
    (weights, grads, optimizer state) after step 1, with the gradient buffers kept (set_to_none=False)."""
    opt = torch.optim.AdamW(lora_parameters(model), lr=lr, weight_decay=0.0)
    mid = 0

    def probe(step: int, loss: float) -> None:
        nonlocal mid
        if on_step is not None:
            on_step(step, loss)
        if step == 1:
            mid = tensor_bytes(model, opt.state)

    losses = fit_rows(model, opt, rows, pad=pad, steps=steps, batch=batch, gen=torch.Generator().manual_seed(seed),
                      set_to_none=False, on_step=probe)
    return losses, mid
