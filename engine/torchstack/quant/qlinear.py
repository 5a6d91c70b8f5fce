"""QuantizedLinear (fake quantization) and whole-model quantization with honest byte counts.

The layer keeps only integer codes (`W_int8`) and FP16 scales and rebuilds the FP32 weight on
every forward: y = x (s * q)^T + b, bias kept in FP32. Nothing dequantized is cached, so a bug
that leaves FP32 weights around cannot hide (the course's "gap below 0.1 %" pitfall).
`quantize_model` swaps every nn.Linear, rounds the embedding to FP16 and leaves LayerNorm alone;
`model_bytes` counts codes at their bit width, scales at 2 bytes, bias and LayerNorm at 4.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.torchstack.quant import quantize as qz
from engine.torchstack.quant.gptq import gptq_quantize

SCHEMES = ("fp32", "fp16", "int8_per_tensor", "int8_per_channel", "per_group_64", "per_group_128",
           "gptq_per_group_64", "nf4_per_group_64")
ALIASES = {"per_tensor": "int8_per_tensor", "per_channel": "int8_per_channel"}


def is_embedding(name: str) -> bool:
    """The token embedding (also the tied LM head): kept at FP16, never quantized lower."""
    return name == "E"


def scheme_bits(scheme: str) -> int:
    scheme = ALIASES.get(scheme, scheme)
    return {"fp32": 32, "fp16": 16, "int8_per_tensor": 8, "int8_per_channel": 8, "naive_global8": 8}.get(scheme, 4)


class QuantizedLinear(nn.Module):
    def __init__(self, linear: nn.Linear, scheme: str, H: Tensor | None = None) -> None:
        super().__init__()
        self.scheme = scheme = ALIASES.get(scheme, scheme)
        self.bits = scheme_bits(scheme)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        W = linear.weight.detach().float()
        if scheme == "int8_per_tensor":
            q, s = qz.quantize_symmetric_per_tensor(W, 8)
        elif scheme == "int8_per_channel":
            q, s = qz.quantize_symmetric_per_channel(W, 8, dim=0)
        elif scheme in ("per_group_64", "per_group_128"):
            # a group cannot span more than a row: on 64-input layers groups of 128 are whole rows
            q, s = qz.quantize_symmetric_per_group(W, 4, min(int(scheme.rsplit("_", 1)[1]), self.in_features))
        elif scheme == "gptq_per_group_64":
            if H is None:
                raise ValueError("GPTQ needs the calibration Hessian of this layer's inputs")
            res = gptq_quantize(W, H, bits=4, group_size=64)
            q, s = res.q, res.scale
        elif scheme == "nf4_per_group_64":
            q, s = qz.nf4_quantize(W, 64)
        elif scheme.startswith("naive_global"):
            q, s = qz.quantize_naive_global(W, int(scheme.removeprefix("naive_global")))
        else:
            raise ValueError(f"unknown scheme {scheme!r}; known: {SCHEMES}")
        self.register_buffer("W_int8", q.to(W.device))
        self.register_buffer("scale", s.to(W.device))
        self.bias = nn.Parameter(linear.bias.detach().float().clone()) if linear.bias is not None else None

    def dequantized_weight(self) -> Tensor:
        if self.scheme == "nf4_per_group_64":
            return qz.nf4_dequantize(self.W_int8, self.scale)
        return qz.dequantize(self.W_int8, self.scale)

    def forward(self, x: Tensor) -> Tensor:
        W = self.dequantized_weight().to(x.dtype)  # rebuilt every call, never cached
        return F.linear(x, W, None if self.bias is None else self.bias.to(x.dtype))

    def nbytes(self) -> int:
        codes = self.W_int8.numel() * self.bits // 8
        bias = 0 if self.bias is None else self.bias.numel() * 4
        return codes + self.scale.numel() * 2 + bias

    def extra_repr(self) -> str:
        return f"{self.in_features}->{self.out_features}, scheme={self.scheme}, scale={tuple(self.scale.shape)}"


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def quantize_model(model: nn.Module, scheme: str | dict[str, str], hessians: dict[str, Tensor] | None = None,
                   only: set[str] | None = None) -> nn.Module:
    """A copy with Linears replaced. `scheme` may map layer names to schemes; `only` limits the swap."""
    q = copy.deepcopy(model).float()
    if scheme == "fp32":
        return q
    if scheme == "fp16":
        with torch.no_grad():
            for p in q.parameters():
                p.copy_(p.half().float())  # model.half() numerics, FP32 compute on the CPU
        return q
    with torch.no_grad():
        for name, p in q.named_parameters():
            if is_embedding(name):
                p.copy_(p.half().float())  # the embedding (and tied head) stays FP16
    for name, m in list(q.named_modules()):
        if isinstance(m, nn.Linear) and (only is None or name in only):
            s = scheme[name] if isinstance(scheme, dict) else scheme
            _set_module(q, name, QuantizedLinear(m, s, None if hessians is None else hessians.get(name)))
    return q


def model_bytes(model: nn.Module, scheme: str = "fp32") -> int:
    """Bytes to store the model: codes + FP16 scales for QuantizedLinears, FP16 embedding when quantized."""
    if scheme in ("fp32", "fp16"):
        per = 4 if scheme == "fp32" else 2
        return sum(p.numel() for p in model.parameters()) * per
    total = 0
    quantized_params = set()
    for m in model.modules():
        if isinstance(m, QuantizedLinear):
            total += m.nbytes()
            if m.bias is not None:
                quantized_params.add(id(m.bias))
    for name, p in model.named_parameters():
        if id(p) in quantized_params:
            continue
        total += p.numel() * (2 if is_embedding(name) else 4)
    return total


@torch.no_grad()
def calibration_hessians(model: nn.Module, x: Tensor, damp_frac: float = 0.01) -> dict[str, Tensor]:
    """H = X X^T / n (+ damping) of every Linear's inputs over the calibration batch x (token ids)."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            def hook(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor, name: str = name) -> None:
                a = inp[0].reshape(-1, inp[0].shape[-1]).double()
                sums[name] = sums.get(name, 0) + a.t() @ a
                counts[name] = counts.get(name, 0) + a.shape[0]
            hooks.append(m.register_forward_hook(hook))
    model(x)
    for h in hooks:
        h.remove()
    out = {}
    for name, S in sums.items():
        H = S / counts[name]
        out[name] = H + damp_frac * H.diagonal().mean() * torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    return out
