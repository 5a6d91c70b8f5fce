"""engine.torchstack.quant.int8_kernel: our per-row INT8 codes on torch's integer kernel, against FP32 references."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from engine.torchstack.quant import quantize as qz
from engine.torchstack.quant.int8_kernel import (
    Int8DynamicLinear,
    cpu_has_vnni,
    int8_dynamic_model,
    int8_engine_available,
)

pytestmark = pytest.mark.skipif(not int8_engine_available(), reason="torch build without an x86 quantized engine")


def _lin(n_in: int = 96, n_out: int = 80) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(n_in, n_out)


def test_packed_weight_holds_exactly_our_codes_and_scales() -> None:
    lin = _lin()
    q = Int8DynamicLinear(lin)
    codes, scales = qz.quantize_symmetric_per_channel(lin.weight.detach(), 8)
    qw, bias = torch.ops.quantized.linear_unpack(q._packed)
    assert torch.equal(qw.int_repr(), codes)
    assert torch.equal(qw.q_per_channel_scales().float(), scales.float().reshape(-1))
    assert torch.equal(bias, lin.bias.detach())


def test_output_matches_float64_weight_only_reference_within_activation_rounding() -> None:
    lin = _lin()
    q = Int8DynamicLinear(lin)
    x = torch.randn(4, 7, 96)
    W = qz.dequantize(q.W_int8, q.scale).double()
    ref = x.double() @ W.T + lin.bias.detach().double()
    y = q(x)
    assert y.shape == (4, 7, 80) and y.dtype == torch.float32
    rel = float((y.double() - ref).norm() / ref.norm())
    # activations are rounded to 7 bits (8 with VNNI) per tensor: ~2 % relative error, never 10 %
    assert rel < 0.04
    with torch.no_grad():
        fp_rel = float((lin(x).double() - ref).norm() / ref.norm())
    assert fp_rel < 0.01  # the weight codes alone cost far less than the activation rounding


def test_without_reduce_range_the_avx2_kernel_saturates() -> None:
    if cpu_has_vnni():
        pytest.skip("VNNI present: 8-bit activations do not overflow int16 pair sums here")
    lin = _lin(256, 256)
    x = torch.randn(32, 256)
    ok, bad = Int8DynamicLinear(lin, reduce_range=True), Int8DynamicLinear(lin, reduce_range=False)
    ref = ok.weight_only_reference(x)
    err = [float((m(x) - ref).norm() / ref.norm()) for m in (ok, bad)]
    assert err[0] < 0.04 < err[1]


def test_model_swap_replaces_every_linear_and_deepcopies() -> None:
    model = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 16))
    q = int8_dynamic_model(model)
    assert [type(m).__name__ for m in q] == ["Int8DynamicLinear", "GELU", "Int8DynamicLinear"]
    assert isinstance(model[0], nn.Linear)  # the original is untouched
    x = torch.randn(5, 32)
    assert torch.equal(copy.deepcopy(q)(x), q(x))
    only = int8_dynamic_model(model, only={"2"})
    assert isinstance(only[0], nn.Linear) and isinstance(only[2], Int8DynamicLinear)
