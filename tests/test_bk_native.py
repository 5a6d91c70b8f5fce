"""The interleaved C kernels (blocks of rows advanced together, dtype conversion inside) against the scan."""

from __future__ import annotations

import pytest
import torch

from engine.core.threads import torch_threads
from engine.research.bk import core, native
from engine.research.bk.function import bk_features

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler: the BK kernel cannot be built")


def _run(v: torch.Tensor, w: torch.Tensor, causal: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = v.clone().requires_grad_()
    f = bk_features(x, causal=causal, backend=backend)
    (f * w).sum().backward()
    assert x.grad is not None
    return f.detach(), x.grad


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("rows,n", [(1, 1), (9, 2), (3, 17), (19, 64)])  # 9 and 19 leave a partial block of lanes
def test_interleaved_matches_scan_float64(causal: bool, rows: int, n: int) -> None:
    g = torch.Generator().manual_seed(rows * 100 + n)
    v = -2.0 + torch.randn(rows, n, generator=g, dtype=torch.float64)
    w = torch.randn(rows, n, 2, generator=g, dtype=torch.float64)
    f, grad = _run(v, w, causal, "native")
    f_ref, grad_ref = _run(v, w, causal, "scan")
    assert native.fused_usable(v, 1.0, "complex128")
    assert (f - f_ref).abs().max() < 1e-13 and (grad - grad_ref).abs().max() < 1e-12


def test_interleaved_dense_inverse_and_float32_io() -> None:
    g = torch.Generator().manual_seed(3)
    v = -2.0 + torch.randn(2, 5, 33, generator=g, dtype=torch.float64)
    f = bk_features(v, backend="native")
    dense = core.dense_diag_inverse(v, 1.0, 1.0, 1j)
    assert f.shape == (2, 5, 33, 2) and (torch.complex(f[..., 0], f[..., 1]) - dense).abs().max() < 1e-13
    f32 = bk_features(v.float(), backend="native")
    assert f32.dtype == torch.float32 and (f32.double() - f).abs().max() < 1e-5


def test_interleaved_gradcheck_and_threads() -> None:
    g = torch.Generator().manual_seed(4)
    for causal in (False, True):
        v = (-2.0 + torch.randn(9, 6, generator=g, dtype=torch.float64)).requires_grad_()
        assert torch.autograd.gradcheck(lambda x, c=causal: bk_features(x, causal=c, backend="native"), (v,))
    v = -2.0 + torch.randn(40, 300, generator=g, dtype=torch.float64)
    w = torch.randn(40, 300, 2, generator=g, dtype=torch.float64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(v, w, False, "native")
        torch.set_num_threads(2)
        two = _run(v, w, False, "native")
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])  # rows never interact


def _fwd_bwd_at(threads: int, x: torch.Tensor, w: torch.Tensor, causal: bool, channel_last: bool,
                backend: str = "native") -> tuple[torch.Tensor, torch.Tensor]:
    with torch_threads(threads):
        xx = x.clone().requires_grad_()
        f = bk_features(xx.transpose(-1, -2) if channel_last else xx, causal=causal, backend=backend)
        (f * w).sum().backward()
        assert xx.grad is not None
        return f.detach(), xx.grad


@pytest.mark.parametrize("causal,dtype,backend", [(True, torch.float32, "native"), (True, torch.float64, "native"),
                                                   (False, torch.float64, "native"),
                                                   (True, torch.float64, "native_rowwise"),
                                                   (False, torch.float64, "native_rowwise")])
def test_two_threads_give_the_same_bits_as_one(causal: bool, dtype: torch.dtype, backend: str) -> None:
    """Big enough (rows x N over 65,536 sites) that the parallel region runs; 33 rows leave a partial block.
    Rows never interact, so the thread count may change the schedule but not one bit of the result."""
    assert native.team_size(2) in (1, 2)  # 1: built without OpenMP, then both runs are serial
    with torch_threads(1):
        assert native.team_size() == 1  # under torch_threads(1) the kernel runs on one thread
    g = torch.Generator().manual_seed(11)
    channel_last = causal  # the mixer's (B, N, C) layout for the causal kernel, row-major (R, N) for the full one
    shape = (3, 2500, 11) if channel_last else (33, 2500)
    x = (-2.0 + torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)
    w = torch.randn(3, 11, 2500, 2, generator=g, dtype=torch.float64).to(dtype)
    w = w if channel_last else w.reshape(33, 2500, 2)
    one, two = _fwd_bwd_at(1, x, w, causal, channel_last, backend), _fwd_bwd_at(2, x, w, causal, channel_last, backend)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    if dtype == torch.float64:  # and still the same numbers as the torch scan
        ref = _fwd_bwd_at(1, x, w, causal, channel_last, backend="scan")
        assert (one[0] - ref[0]).abs().max() < 1e-12 and (one[1] - ref[1]).abs().max() < 1e-10


def test_hybrid_and_tensor_beta_keep_the_rowwise_path() -> None:
    v = -2.0 + torch.randn(3, 20, dtype=torch.float64)
    beta = torch.full((3, 19), 0.7, dtype=torch.float64)
    assert not native.fused_usable(v, beta, "complex128")
    a = bk_features(v, beta, backend="native")
    b = bk_features(v, 0.7, backend="native")
    assert (a - b).abs().max() < 1e-13
    x = v.clone().requires_grad_()
    bk_features(x, grad_mode="hybrid", backend="native").sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n", [1, 31, 32, 33, 200])  # around the causal kernel's checkpoint spacing (32)
def test_causal_kernel_channel_last_and_expanded_grad(dtype: torch.dtype, n: int) -> None:
    """The mixer hands the core a (B, N, C) tensor transposed to (B, C, N): no copy in, none out, same numbers."""
    g = torch.Generator().manual_seed(n)
    x = (-2.0 + torch.randn(3, n, 11, generator=g, dtype=torch.float64)).to(dtype)  # (B, N, C), C=11: a partial block
    w = torch.randn(3, 11, n, 2, generator=g, dtype=torch.float64).to(dtype)
    res = {}
    for backend in ("native", "scan"):
        xx = x.clone().requires_grad_()
        f = bk_features(xx.transpose(-1, -2), causal=True, backend=backend)
        (f * w).sum().backward()
        assert xx.grad is not None
        one = xx.grad.clone()
        xx.grad = None
        bk_features(xx.transpose(-1, -2), causal=True, backend=backend).sum().backward()  # an expanded (stride 0) grad
        res[backend] = (f.detach(), one, xx.grad)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for a, b in zip(res["native"], res["scan"], strict=True):
        assert a.shape == b.shape and (a.double() - b.double()).abs().max() < tol
    if n > 1:
        f = res["native"][0]
        assert f.permute(0, 2, 1, 3).is_contiguous()  # (B, N, C, 2) underneath: the mixer's reshape is free
        assert res["native"][1].is_contiguous()  # dL/dx comes back in x's own layout


def test_big_output_pool_never_hands_out_a_live_buffer() -> None:
    native._POOL.clear()
    a = native._empty((1024, 8192), torch.float32)  # 32 MiB: from the pool (over 4 MiB)
    a.fill_(1.0)
    b = native._empty((1024, 8192), torch.float32)
    assert a.data_ptr() != b.data_ptr()
    b.fill_(2.0)
    view = a[5:]  # a view keeps the map alive after `a` goes
    ptr = a.data_ptr()
    del a
    c = native._empty((1024, 8192), torch.float32)
    assert c.data_ptr() != ptr and float(view[0, 0]) == 1.0
    del view
    d = native._empty((1024, 8192), torch.float32)
    assert d.data_ptr() == ptr  # only now is it free again
    assert float(b.double().mean()) == 2.0


@pytest.mark.parametrize("channel_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [64, 130])  # whole 32-site tiles, and a partial last tile
def test_causal_lane_counts_and_layout_fast_paths_agree(monkeypatch: pytest.MonkeyPatch, channel_last: bool,
                                                        dtype: torch.dtype, n: int) -> None:
    """64 rows fill blocks of 8, 16 and 32 rows: float32 row-major takes the 8 x 8 transposes, channel-last
    the adjacent-rows copies. Every lane count gives the same bits, and float64 matches the scan."""
    g = torch.Generator().manual_seed(n)
    shape = (2, n, 32) if channel_last else (64, n)
    x = (-2.0 + torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)
    w = torch.randn(2, 32, n, 2, generator=g, dtype=torch.float64).to(dtype)
    w = w if channel_last else w.reshape(64, n, 2)
    out = {}
    for nv in (1, 2, 4):
        monkeypatch.setattr(native, "_lanes", lambda rows, threads, nv=nv: nv)
        out[nv] = _fwd_bwd_at(1, x, w, True, channel_last)
    for nv in (2, 4):
        assert torch.equal(out[nv][0], out[1][0]) and torch.equal(out[nv][1], out[1][1])
    xx = x.double().clone().requires_grad_()
    f = bk_features(xx.transpose(-1, -2) if channel_last else xx, causal=True, backend="scan")
    (f * w.double()).sum().backward()
    assert xx.grad is not None
    tol = (1e-12, 1e-10) if dtype == torch.float64 else (1e-5, 1e-4)
    assert (out[1][0].double() - f.detach()).abs().max() < tol[0]
    assert (out[1][1].double() - xx.grad).abs().max() < tol[1] * (1 + xx.grad.abs().max())


def test_lane_count_pads_little_and_feeds_every_thread() -> None:
    assert [native._lanes(r, 1) for r in (1, 8, 9, 15, 16, 24, 32, 48, 512)] == [1, 1, 1, 2, 2, 1, 4, 2, 4]
    assert native._lanes(32, 2) == 2 and native._lanes(16, 2) == 1  # two blocks for two threads


def test_streaming_stores_change_no_bits() -> None:
    """Outputs of 16 MiB and more are written around the caches; the same rows in a smaller call are not."""
    g = torch.Generator().manual_seed(5)
    n = 32768
    x = -2.0 + torch.randn(64, n, generator=g)
    w = torch.randn(64, n, 2, generator=g)
    big = _fwd_bwd_at(1, x, w, True, channel_last=False)  # features: 64 x 32768 x 8 B = 16 MiB
    half = [_fwd_bwd_at(1, x[i : i + 32], w[i : i + 32], True, channel_last=False) for i in (0, 32)]
    assert torch.equal(big[0], torch.cat([h[0] for h in half])) and torch.equal(big[1], torch.cat([h[1] for h in half]))
