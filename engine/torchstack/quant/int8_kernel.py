"""A real INT8 matmul path: the phase-26 per-row INT8 codes run on torch's x86/fbgemm integer kernel.

`QuantizedLinear` (qlinear.py) teaches the maths but dequantizes its codes to FP32 on every call,
so it is slower than the FP32 layer it replaces. `Int8DynamicLinear` keeps the *same* codes and
FP16-rounded scales (engine.torchstack.quant.quantize, one scale per output row) but hands them to
`torch.ops.quantized.linear_dynamic`: the weight is packed once, and each call quantizes the
activations per tensor to uint8, multiplies in integers with INT32 accumulation and rescales the
result to FP32 ("dynamic" W8A8). That is what makes it faster, on large enough matrices.

reduce_range: on a CPU without VNNI, fbgemm multiplies uint8 x int8 pairs with `vpmaddubsw`,
which sums two products into a saturating int16; with 8-bit activations 2 x 255 x 127 overflows
it and the output is silently wrong by about 10 %. Quantizing activations to 7 bits (0..127)
keeps every pair sum inside int16. We switch it on unless /proc/cpuinfo names a VNNI flag
(measured on an AVX2-only EPYC: relative output error 8-15 % without it, 1.6-1.8 % with it).

torch 2.13 marks quantized tensors as deprecated (their future is torchao); the ops still ship.
We silence that one warning where we build the packed weight, and `int8_engine_available()`
says False (labs then skip this path with the reason) once a torch build drops them.
"""

from __future__ import annotations

import copy
import warnings
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.systems.hardware.profile import cpu_flags
from engine.torchstack.quant import quantize as qz

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """True when the CPU advertises an INT8 dot-product instruction (VNNI or AMX)."""
    return any(f in cpu_flags() for f in VNNI_FLAGS)


def int8_engine_available() -> bool:
    """Whether torch was built with an x86 quantized engine (fbgemm / x86 / onednn)."""
    engines = torch.backends.quantized.supported_engines
    ops = hasattr(torch.ops.quantized, "linear_dynamic") and hasattr(torch.ops.quantized, "linear_prepack")
    return ops and any(e in engines for e in ("x86", "fbgemm", "onednn"))


class Int8DynamicLinear(nn.Module):
    """y = rescale(int8(W) @ uint8(x)) + b with our per-row codes; activations quantized per call."""

    def __init__(self, linear: nn.Linear, reduce_range: bool | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.reduce_range = (not cpu_has_vnni()) if reduce_range is None else reduce_range
        W = linear.weight.detach().float().cpu()
        q, s = qz.quantize_symmetric_per_channel(W, 8, dim=0)  # the one quantizer: codes in [-127, 127]
        self.register_buffer("W_int8", q)
        self.register_buffer("scale", s)
        bias = None if linear.bias is None else linear.bias.detach().float().cpu()
        self.register_buffer("bias", bias)
        # q * s / s rounds back to q exactly, so torch holds our codes, not codes of its own
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
            qw = torch.quantize_per_channel(qz.dequantize(q, s), s.float().reshape(-1).double(),
                                            torch.zeros(q.shape[0], dtype=torch.long), 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qw, bias)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, self.in_features).float().contiguous(),
                                               self._packed, self.reduce_range)
        return y.reshape(*lead, self.out_features).to(x.dtype)

    def weight_only_reference(self, x: Tensor) -> Tensor:
        """The same codes through FP32 F.linear (no activation rounding): what the kernel approximates."""
        return F.linear(x.float(), qz.dequantize(self.W_int8, self.scale), self.bias)

    def __deepcopy__(self, memo: dict) -> Int8DynamicLinear:
        lin = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(qz.dequantize(self.W_int8, self.scale))
            if self.bias is not None:
                lin.bias.copy_(self.bias)
        return Int8DynamicLinear(lin, self.reduce_range)

    def extra_repr(self) -> str:
        return f"{self.in_features}->{self.out_features}, int8 per-row, reduce_range={self.reduce_range}"


def int8_dynamic_model(model: nn.Module, only: set[str] | None = None, reduce_range: bool | None = None) -> nn.Module:
    """A CPU copy of `model` with every nn.Linear (or those named in `only`) on the INT8 kernel."""
    q = copy.deepcopy(model).float().cpu().eval()
    for name, m in list(q.named_modules()):
        if isinstance(m, nn.Linear) and (only is None or name in only):
            parent, _, child = name.rpartition(".")
            setattr(q.get_submodule(parent) if parent else q, child, Int8DynamicLinear(m, reduce_range))
    return q
