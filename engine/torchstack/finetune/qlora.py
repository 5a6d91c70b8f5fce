"""QLoRA: quantize the frozen base to NF4 (groups of 64) first, then put FP32 LoRA adapters on top.

The base Linears become QuantizedLinear(scheme="nf4_per_group_64"), holding 4-bit code indices
and FP16 absmax scales; gradients flow through the dequantized weight into the adapter only.
"""

from __future__ import annotations

from torch import nn

from engine.torchstack.finetune.lora import DEFAULT_TARGETS, wrap_minigpt_with_lora
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
