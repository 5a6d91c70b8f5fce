"""engine.torchstack.quant: scales, rounding bounds, NF4, GPTQ, QuantizedLinear and the GGUF-lite format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, n_params
from engine.scratch.numerics.quant import choose_scale_symmetric, quantize_fp32_to_int8
from engine.torchstack.quant import quantize as qz
from engine.torchstack.quant.gguf_lite import pack_int4, read_gguf_lite, unpack_int4, write_gguf_lite
from engine.torchstack.quant.gptq import damped_hessian, gptq_quantize, hessian_loss, rtn_per_group
from engine.torchstack.quant.qlinear import QuantizedLinear, model_bytes, quantize_model


def _w(shape: tuple[int, int] = (32, 128), seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.05


def test_minigpt_has_the_course_parameter_count() -> None:
    assert n_params(GPT(MiniGPTConfig(vocab_size=64))) == 103_680


def test_per_tensor_matches_numpy_phase02_codes() -> None:
    w = _w()
    q, s = qz.quantize_symmetric_per_tensor(w, 8)
    s_np = choose_scale_symmetric(w.numpy())
    q_np = quantize_fp32_to_int8(w.numpy(), float(s))  # same (FP16-rounded) scale -> same codes
    assert np.array_equal(q.numpy(), q_np)
    assert abs(float(s) - s_np) / s_np < 1e-3  # FP16 storage moves the scale by under 0.1 %


@pytest.mark.parametrize("kind", ["tensor", "channel", "group"])
def test_rounding_error_is_at_most_half_a_step(kind: str) -> None:
    w = _w()
    if kind == "tensor":
        q, s = qz.quantize_symmetric_per_tensor(w, 8)
    elif kind == "channel":
        q, s = qz.quantize_symmetric_per_channel(w, 8)
        assert s.shape == (32, 1)
    else:
        q, s = qz.quantize_symmetric_per_group(w, 4, 64)
        assert s.shape == (32, 2) and int(q.abs().max()) <= 7
    assert qz.rounding_error_in_steps(w, q, s, 4 if kind == "group" else 8) <= 0.5 + 1e-6


def test_zero_row_does_not_make_nan() -> None:
    w = _w()
    w[3] = 0.0
    q, s = qz.quantize_symmetric_per_channel(w, 8)
    assert torch.isfinite(qz.dequantize(q, s)).all()


def test_nf4_codebook_and_roundtrip() -> None:
    assert qz.NF4_CODE[7] == 0.0 and qz.NF4_CODE[0] == -1.0 and qz.NF4_CODE[-1] == 1.0
    w = _w()
    idx, absmax = qz.nf4_quantize(w, 64)
    err = (qz.nf4_dequantize(idx, absmax) - w).abs().max()
    assert int(idx.max()) <= 15 and float(err) < float(absmax.float().max()) * 0.17  # widest gap / 2


def test_gptq_beats_rtn_and_blocking_does_not_change_it() -> None:
    g = torch.Generator().manual_seed(1)
    W = torch.randn(64, 256, generator=g, dtype=torch.float64) * 0.02
    X = torch.randn(256, 64, generator=g, dtype=torch.float64)
    H = damped_hessian(X)
    a, b = gptq_quantize(W, H, block=64), gptq_quantize(W, H, block=256)
    assert torch.equal(a.q, b.q)
    H0 = X @ X.t() / X.shape[1]
    assert hessian_loss(W, a.w_hat, H0)[0] < 0.7 * hessian_loss(W, rtn_per_group(W).w_hat, H0)[0]
    lower = gptq_quantize(W, H, upper=False)  # the lower-factor trap reproduces RTN exactly
    assert torch.equal(lower.q, rtn_per_group(W).q)


def test_quantized_linear_recomputes_and_counts_bytes() -> None:
    lin = nn.Linear(128, 32)
    ql = QuantizedLinear(lin, "per_group_64")
    x = torch.randn(4, 128)
    assert ql(x).shape == lin(x).shape and ql(x).dtype == lin(x).dtype
    assert not any(p.shape == lin.weight.shape for p in ql.parameters())  # no FP32 weight kept
    assert ql.nbytes() == 32 * 128 // 2 + 32 * 2 * 2 + 32 * 4
    with torch.no_grad():
        ql.W_int8.zero_()
    assert torch.allclose(ql(x), lin.bias.expand(4, 32))  # forward really uses the codes


def test_model_bytes_and_gguf_roundtrip(tmp_path) -> None:
    model = GPT(MiniGPTConfig(vocab_size=64), seed=0)
    assert model_bytes(model) == 4 * 103_680
    qm = quantize_model(model, {n: ("int8_per_channel" if ".attn." in n else "per_group_64")
                                for n, m in model.named_modules() if isinstance(m, nn.Linear)})
    write_gguf_lite(tmp_path / "m.glft", qm, {"arch": "minigpt"})
    assert (tmp_path / "m.glft").read_bytes()[:4] == b"GLFT"
    tensors, meta = read_gguf_lite(tmp_path / "m.glft")
    assert meta == {"arch": "minigpt"}
    w = qm.blocks[0].ffn.w1.dequantized_weight()
    assert torch.equal(tensors["block_0.ffn.w1.weight"], w)


def test_int4_packing_roundtrip() -> None:
    q = np.random.default_rng(0).integers(-8, 8, size=(5, 64)).astype(np.int8)
    assert np.array_equal(unpack_int4(pack_int4(q)), q)
    assert pack_int4(np.array([[1, -1]], dtype=np.int8))[0, 0] == 0xF1  # low nibble = even index
