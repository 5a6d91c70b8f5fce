"""The Triton kernels under Triton's CPU interpreter, on small shapes, against float64 oracles,
the C loop and the torch scan, including the faults the breaks switch on.

Skipped without triton (pip install -e '.[gpu]'). The interpreter is chosen by
engine.systems.kernels.runtime.prepare before any kernel module is imported.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed: pip install -e '.[gpu]'", allow_module_level=True)

from engine.systems.kernels import runtime  # noqa: E402

ENV = runtime.prepare("cpu")
if ENV["mode"] != "interpreter":  # kernel modules were decorated for a GPU earlier in this process
    pytest.skip("Triton kernels already compiled for CUDA in this process", allow_module_level=True)

from engine.research.bk import core, native  # noqa: E402
from engine.systems.kernels import bk_core, flash, layernorm, softmax  # noqa: E402
from engine.systems.kernels.reference import attention64, layernorm64, max_abs, softmax64  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the faults overflow on purpose


def _logits(rows: int, cols: int, seed: int = 0, hot: float | None = None) -> torch.Tensor:
    x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)) * 4
    if hot is not None:
        x[0, min(3, cols - 1)] = hot
    return x


@pytest.mark.parametrize("kernel", ["naive", "online", "fused"])
@pytest.mark.parametrize("cols", [1, 7, 64, 600])  # one element, a lone tail tile, exact tiles, a 600 row with a tail
def test_softmax_kernels_match_float64(kernel: str, cols: int) -> None:
    x = _logits(5, cols, hot=60.0)
    y = softmax.softmax(x, kernel, block=64)
    assert max_abs(y.numpy(), softmax64(x.numpy())) < 2.5e-7


def test_missing_max_shift_overflows_on_a_hot_row_only() -> None:
    x = _logits(4, 600, hot=100.0)
    y = softmax.softmax(x, "naive", 256, fault="no_max_shift").numpy()
    bad = ~np.isfinite(y).all(-1)
    assert bad.tolist() == [True, False, False, False]
    assert max_abs(y[1:], softmax64(x.numpy())[1:]) < 1e-6  # ordinary rows survive: the bug hides


def test_zero_padding_on_the_tail_tile_inflates_the_denominator() -> None:
    x = _logits(8, 600)
    broken = softmax.softmax(x, "online", 256, fault="tail_zero").numpy()
    assert max_abs(broken, softmax64(x.numpy())) > 1e-4
    assert (broken.sum(-1) < 1 - 1e-6).all()  # every row loses mass to the 168 padding lanes
    whole = _logits(8, 512)  # no tail: the same bug is invisible
    assert max_abs(softmax.softmax(whole, "online", 256, fault="tail_zero").numpy(), softmax64(whole.numpy())) < 1e-6


def test_fused_tuning_keeps_the_row_in_one_tile() -> None:
    picked = softmax.tune_fused(_logits(2, 600), warps=(2, 4), blocks=(256, 2048), interpreting=True)
    assert picked["block"] >= 1024 and picked["timed"] is False


def test_layernorm_matches_float64() -> None:
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(3, 5, 48, generator=g) * 3 + 1, torch.randn(48, generator=g), torch.randn(48, generator=g)
    y = layernorm.layer_norm(x, w, b, 1e-5)
    assert y.shape == x.shape
    assert max_abs(y.numpy(), layernorm64(x.numpy(), w.numpy(), b.numpy())) < 2e-6


@pytest.mark.parametrize("n", [16, 40])
@pytest.mark.parametrize("causal", [True, False])
def test_flash_forward_matches_float64_and_lse(n: int, causal: bool) -> None:
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(1, 2, n, 16, generator=g) for _ in range(3))
    o, lse = flash.flash_attention(q, k, v, causal=causal, block_m=16, block_n=16)
    assert max_abs(o.numpy(), attention64(q.numpy(), k.numpy(), v.numpy(), causal)) < 1e-5
    s = q.double() @ k.double().transpose(-1, -2) / 4.0
    if causal:
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    assert max_abs(lse.numpy(), torch.logsumexp(s, -1).numpy()) < 1e-5


def test_flash_without_rescale_is_wrong() -> None:
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 1, 48, 16, generator=g) for _ in range(3))
    o, _ = flash.flash_attention(q, k, v, causal=False, block_m=16, block_n=16, fault="no_rescale")
    assert max_abs(o.numpy(), attention64(q.numpy(), k.numpy(), v.numpy(), False)) > 1e-2


def test_flash_rejects_a_head_dim_tl_dot_cannot_tile() -> None:
    q = torch.zeros(1, 1, 8, 12)
    with pytest.raises(ValueError, match="head dim 12"):
        flash.flash_attention(q, q, q)


@pytest.mark.parametrize("n", [1, 2, 17])
@pytest.mark.parametrize("causal", [False, True])
def test_bk_core_kernel_matches_scan_and_c_loop(n: int, causal: bool) -> None:
    rng = np.random.default_rng(n)
    diag = -2.0 + torch.tensor(rng.uniform(-3, 3, (3, n)))
    alpha = core.shifted_diagonal(diag, 1j, torch.complex128)
    beta = core.coupling(1.0, alpha)
    w = torch.complex(torch.tensor(rng.standard_normal((3, n))), torch.tensor(rng.standard_normal((3, n))))
    g, d, e = bk_core.forward(alpha, beta, causal, block_r=2)
    if causal:
        gs, ds = core.causal_diag(alpha, beta)
        grad_scan = core.causal_vjp(w, gs, ds, beta)
    else:
        gs, ds, es = core.resolvent_diag(alpha, beta)
        grad_scan = core.exact_vjp(w, gs, ds, es, beta)
    grad = bk_core.backward(w, g, d, e, beta, causal, block_r=2)
    assert float((g - gs).abs().max() / gs.abs().max()) < 1e-12
    assert float((grad - grad_scan).abs().max() / grad_scan.abs().max()) < 1e-12
    if native.available():
        gn, dn, en = native.forward(alpha, beta, causal)
        assert float((g - gn).abs().max() / gn.abs().max()) < 1e-14  # the same sequential arithmetic as the C loop
        assert float((grad - native.backward(w, gn, dn, en, beta, causal)).abs().max()) < 1e-13
