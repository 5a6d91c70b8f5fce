"""Facts about a quantized model against its FP32 source: zero codes, scale shapes, rounding, byte shares.

Phase 26's INT8 PTQ lab reports these for each scheme; they are properties of `quantize_model`'s
output (QuantizedLinear codes and scales), so they live beside it and can be tested on any small
model. Layers are paired by module order: `quantize_model` swaps each nn.Linear in place.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.torchstack.quant.qlinear import QuantizedLinear, quantize_model
from engine.torchstack.quant.quantize import rounding_error_in_steps


def qlayers(model: nn.Module) -> list[QuantizedLinear]:
    """The quantized linears, in module order."""
    return [m for m in model.modules() if isinstance(m, QuantizedLinear)]


def fp_linears(model: nn.Module) -> list[nn.Linear]:
    """The float linears, in module order (the partners of `qlayers` of its quantized copy)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def zero_code_frac(model: nn.Module, bits: int | None = None) -> float:
    """Share of integer codes that are 0 (in layers of `bits` only, when given): what rounding wiped out."""
    layers = [m for m in qlayers(model) if bits is None or m.bits == bits]
    return sum(int((m.W_int8 == 0).sum()) for m in layers) / max(sum(m.W_int8.numel() for m in layers), 1)


def scale_facts(model: nn.Module, qm: nn.Module) -> dict[str, Any]:
    """Scale counts and shapes, and max |w| / scale (at most qmax steps when scales round up: nothing clipped)."""
    pairs = list(zip(fp_linears(model), qlayers(qm), strict=True))
    return {
        "min_scales_per_layer": min(m.scale.numel() for _, m in pairs),
        "scale_shapes": sorted({str(tuple(m.scale.shape)) for _, m in pairs}),
        "max_abs_w_over_scale": max(float((m_fp.weight.detach().abs() / m.scale.float()).max()) for m_fp, m in pairs),
        "per_channel_scales_are_rows": all(tuple(m.scale.shape) == (m.W_int8.shape[0], 1) for _, m in pairs),
    }


def rounding_errors(model: nn.Module, qm: nn.Module) -> list[float]:
    """Per layer, the worst rounding error in quantization steps (the naive schemes are left out)."""
    return [rounding_error_in_steps(m_fp.weight.detach(), m.W_int8, m.scale, m.bits)
            for m_fp, m in zip(fp_linears(model), qlayers(qm), strict=True) if not m.scheme.startswith("naive")]


def output_contract_ok(lin: nn.Linear) -> bool:
    """QuantizedLinear keeps its float partner's output dtype and shape (one draw from torch's RNG)."""
    x = torch.randn(3, 5, lin.in_features)
    with torch.no_grad():
        y_ref, y_q = lin(x), QuantizedLinear(lin, "int8_per_channel")(x)
    return bool(y_q.dtype == y_ref.dtype and y_q.shape == y_ref.shape)


def byte_shares(model: nn.Module, embedding: torch.Tensor) -> dict[str, float]:
    """Where the bytes of the INT8 per-channel model go: linears, the FP16 embedding, LayerNorm (FP32)."""
    qm = quantize_model(model, "int8_per_channel")
    lin_b = sum(m.nbytes() for m in qlayers(qm))
    emb_b = embedding.numel() * 2
    ln_b = sum(p.numel() * 4 for n, p in qm.named_parameters() if ".ln" in n or n.startswith("ln_"))
    total = lin_b + emb_b + ln_b
    return {"byte_share_linear": lin_b / total, "byte_share_embedding": emb_b / total,
            "byte_share_layernorm": ln_b / total}
