"""Phase 24 labs: one kernel (row softmax over Mini-GPT-sized logit rows) written several ways.

lab-00  a CUDA C vector add compiled at run time (torch.utils.cpp_extension.load_inline): needs a
        GPU and nvcc, skipped by the runner otherwise.
lab-01  the naive Triton kernel (three passes over the row) and the NumPy fallback, against a
        float64 oracle; on a GPU a batch sweep with achieved GB/s.
lab-02  the tuned kernels (online two-pass, fused one-tile) against the oracle and, on a GPU,
        timed against torch.softmax; the shared-memory overrun break in a simulated block.
lab-03  the fused kernel tuned over (BLOCK, num_warps), a Triton LayerNorm, and the NumPy Mini-GPT
        ported to torch with both kernels swapped into its forward.
Without a CUDA device the Triton kernels run under the interpreter (TRITON_INTERPRET=1, set by
engine.systems.kernels.runtime.prepare before they are imported): correctness only, no timings.
Faults: no_max_shift (lab-01), tail_zero and smem_tile_overrun (lab-02).
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import torch

from engine.core.run import Recorder
from engine.systems.kernels.reference import max_abs, softmax64

_HELLO_CUDA = r"""
__global__ void vec_add(const float* a, const float* b, float* c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
torch::Tensor vec_add_launch(torch::Tensor a, torch::Tensor b, int64_t threads) {
    auto c = torch::empty_like(a);
    int n = a.numel();
    vec_add<<<(n + threads - 1) / threads, threads>>>(a.data_ptr<float>(), b.data_ptr<float>(), c.data_ptr<float>(), n);
    return c;
}
"""


def _logits(cfg: dict[str, Any], rows: int) -> torch.Tensor:
    """Seeded logit rows of width V: N(0, logit_std) plus `hot_rows` rows whose top logit is hot_logit
    (an untempered, confident head), the rows where a missing max shift overflows float32."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.normal(0.0, float(cfg["logit_std"]), (rows, int(cfg["V"]))).astype(np.float32)
    for r in range(min(int(cfg["hot_rows"]), rows)):
        x[r, rng.integers(0, x.shape[1])] = float(cfg["hot_logit"])
    return torch.from_numpy(x)


def _prepare(cfg: dict[str, Any]) -> dict[str, Any]:
    from engine.systems.kernels import runtime

    return runtime.prepare(str(cfg["device"]))


def _sweep(rec: Recorder, cfg: dict[str, Any], kernels: dict[str, Any], stage: str) -> dict[int, dict[str, float]]:
    """Median microseconds per launch of each kernel over the B sweep (GPU only)."""
    from engine.systems.hardware.gpu import copy_gbs, event_seconds

    beta = 2 * copy_gbs("d2d", 256 * 1024**2, min_seconds=0.1)["throughput_gbs"]
    out: dict[int, dict[str, float]] = {}
    for i, B in enumerate(cfg["B_sweep"]):
        x = _logits(cfg, int(B)).cuda()
        row: dict[str, float] = {}
        for name, fn in kernels.items():
            samples = [event_seconds(lambda fn=fn, x=x: fn(x), int(cfg["launches"]) // 5, int(cfg["warmup"])) for _ in range(5)]
            row[f"{name}_us"] = 1e6 * statistics.median(samples)
            row[f"{name}_gbs"] = 8.0 * x.numel() / (row[f"{name}_us"] / 1e6) / 1e9  # read + write once: compulsory
            row[f"{name}_fraction_of_bandwidth"] = row[f"{name}_gbs"] / beta
        rec.log(i, stage=stage, B=int(B), **row)
        out[int(B)] = row
    return out


# ---------------------------------------------------------------------- lab 00
def hello_cuda(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    from torch.utils.cpp_extension import load_inline

    from engine.systems.hardware.gpu import copy_gbs, event_seconds

    mod = load_inline(name="lynx_vec_add", cpp_sources="torch::Tensor vec_add_launch(torch::Tensor a, torch::Tensor b, int64_t threads);",
                      cuda_sources=_HELLO_CUDA, functions=["vec_add_launch"], verbose=False)
    n, threads = int(cfg["N"]), int(cfg["threads_per_block"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    a, b = torch.rand(n, generator=gen), torch.rand(n, generator=gen)
    ac, bc = a.cuda(), b.cuda()
    c = mod.vec_add_launch(ac, bc, threads).cpu()  # the first call (after the JIT build) is not timed
    t = event_seconds(lambda: mod.vec_add_launch(ac, bc, threads), int(cfg["launches"]), 3)
    beta = 2 * copy_gbs("d2d", 256 * 1024**2, min_seconds=0.1)["throughput_gbs"]
    gbs = 3.0 * n * 4 / t / 1e9
    return {"exact_match": bool(torch.equal(c, a + b)), "kernel_time_us": 1e6 * t, "achieved_bandwidth_gbs": gbs,
            "measured_bandwidth_gbs": beta, "fraction_of_hbm_peak": gbs / beta}


# ---------------------------------------------------------------------- lab 01
def naive_softmax(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    env = _prepare(cfg)
    from engine.systems.kernels import softmax as sm

    x = _logits(cfg, int(cfg["check_rows"]))
    ref = softmax64(x.numpy())
    fault = cfg.get("fault")
    y = sm.softmax(x.to(env["device"]), "naive", int(cfg["block"]), fault=fault).cpu().numpy()
    xn = x.numpy()
    e = np.exp(xn - xn.max(-1, keepdims=True))
    fallback = e / e.sum(-1, keepdims=True)
    nonfinite_rows = int((~np.isfinite(y)).any(-1).sum())
    for r in range(x.shape[0]):
        rec.log(r, stage="rows", row=r, max_abs_err=max_abs(y[r], ref[r]), row_max=float(xn[r].max()))
    out: dict[str, Any] = {**env, "V": x.shape[1], "rows_checked": x.shape[0],
                           "naive_max_abs_err": max_abs(y, ref), "numpy_fallback_max_abs_err": max_abs(fallback, ref),
                           "nonfinite_rows": nonfinite_rows,
                           "row_sum_max_dev": float(np.abs(np.nan_to_num(y, nan=0.0, posinf=0.0).sum(-1) - 1).max())}
    if env["mode"] == "compiled":
        sweep = _sweep(rec, cfg, {"naive": lambda t: sm.softmax(t, "naive", int(cfg["block"]))}, "sweep")
        out.update({f"naive_us_b{B}": r["naive_us"] for B, r in sweep.items()})
        out["naive_fraction_of_bandwidth_b64"] = sweep.get(64, {}).get("naive_fraction_of_bandwidth")
    else:
        rec.note("timing skipped: under Triton's interpreter a kernel runs as NumPy on the CPU and its time means nothing")
    return out


# ---------------------------------------------------------------------- lab 02
def tuned_softmax(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    env = _prepare(cfg)
    from engine.systems.kernels import smem_sim
    from engine.systems.kernels import softmax as sm

    fault = cfg.get("fault")
    x = _logits(cfg, int(cfg["check_rows"]))
    ref = softmax64(x.numpy())
    xd = x.to(env["device"])
    online = sm.softmax(xd, "online", int(cfg["block"]), fault=fault if fault == "tail_zero" else None).cpu().numpy()
    fused = sm.softmax(xd, "fused").cpu().numpy()
    tail = x.shape[1] % int(cfg["block"])
    out: dict[str, Any] = {**env, "V": x.shape[1], "block": int(cfg["block"]), "tail_lanes_valid": tail,
                           "online_max_abs_err": max_abs(online, ref), "fused_max_abs_err": max_abs(fused, ref),
                           "online_row_sum_max_dev": float(np.abs(online.sum(-1) - 1).max())}
    # the break's kernel: a 32 x 32 tiled matmul in a simulated CUDA block, tile_a declared one column short
    n, tile = int(cfg["smem_n"]), int(cfg["smem_tile"])
    rng = np.random.default_rng(cfg["seed"])
    A, B = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    width = tile - 1 if fault == "smem_tile_overrun" else tile
    C = smem_sim.tiled_matmul(A, B, tile, width)
    diff = smem_sim.bad_outputs(C, A.astype(np.float64) @ B.astype(np.float64))
    for i in range(n):
        rec.log(i, stage="smem_diff", row=i, row_max_abs_diff=float(np.abs(C[i] - A[i].astype(np.float64) @ B).max()))
    out.update(diff, smem_tile_width=width)
    if env["mode"] == "compiled":
        kernels = {"naive": lambda t: sm.softmax(t, "naive", int(cfg["block"])),
                   "online": lambda t: sm.softmax(t, "online", int(cfg["block"])),
                   "fused": lambda t: sm.softmax(t, "fused"), "framework": lambda t: torch.softmax(t, -1)}
        sweep = _sweep(rec, cfg, kernels, "sweep")
        if 512 in sweep:
            out["fused_over_framework_time_b512"] = sweep[512]["fused_us"] / sweep[512]["framework_us"]
            out["online_over_framework_time_b512"] = sweep[512]["online_us"] / sweep[512]["framework_us"]
    else:
        rec.note("timing skipped under the interpreter: fused_over_framework_time_b512 is measured on a GPU only")
    return out


# ---------------------------------------------------------------------- lab 03
def triton_port(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    env = _prepare(cfg)
    from engine.lm.models import spine_numpy
    from engine.systems.kernels import layernorm as ln
    from engine.systems.kernels import softmax as sm
    from engine.systems.kernels.minigpt_port import TorchMiniGPT
    from engine.systems.kernels.reference import layernorm64

    dev = env["device"]
    x = _logits(cfg, int(cfg["check_rows"]))
    tuned = sm.tune_fused(x.to(dev), tuple(cfg["autotune_warps"]), tuple(cfg["autotune_blocks"]),
                          interpreting=env["mode"] == "interpreter")
    y = sm.softmax(x.to(dev), "fused", tuned["block"], tuned["num_warps"]).cpu().numpy()
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    h, w, b = torch.randn(int(cfg["check_rows"]), 64, generator=gen), torch.randn(64, generator=gen), torch.randn(64, generator=gen)
    ln_err = max_abs(ln.layer_norm(h.to(dev), w.to(dev), b.to(dev)).cpu().numpy(), layernorm64(h.numpy(), w.numpy(), b.numpy()))

    model, tok, cks = spine_numpy.load(quick=bool(cfg["quick"]))  # the course's model, as the NumPy twin
    spine_numpy.record(rec, cks)
    ids = np.random.default_rng(cfg["seed"]).integers(0, model.cfg.vocab_size, tuple(cfg["port_batch"]))
    ref = model(ids).data
    torch.set_num_threads(1)
    eager = TorchMiniGPT(model)(torch.from_numpy(ids)).numpy()
    eager64 = TorchMiniGPT(model, dtype=torch.float64)(torch.from_numpy(ids)).numpy()
    swapped = TorchMiniGPT(model, device=dev, softmax=lambda t: sm.softmax(t, "fused", tuned["block"], tuned["num_warps"]),
                           layer_norm=lambda t, w_, b_, eps: ln.layer_norm(t, w_, b_, eps))
    prompt = torch.tensor([tok.encode(str(cfg["prompt"]), bos=True, eos=False)])
    top_eager = int(TorchMiniGPT(model)(prompt)[0, -1].argmax())
    top_swap = int(swapped(prompt.to(dev))[0, -1].argmax())
    kernel_logits = swapped(torch.from_numpy(ids).to(dev)).cpu().numpy()
    out: dict[str, Any] = {**env, "triton_max_abs_err": max_abs(y, softmax64(x.numpy())), "layernorm_max_abs_err": ln_err,
                           "autotune_block": tuned["block"], "autotune_num_warps": tuned["num_warps"],
                           "autotune_timed": tuned["timed"],
                           "torch_port_max_abs_diff": max_abs(eager, ref), "torch_port_fp64_vs_numpy_fp32": max_abs(eager64, ref),
                           "kernel_swap_top1_unchanged": top_eager == top_swap, "prompt_top1": tok.itos[top_eager],
                           "kernel_vs_eager_logits_max_abs_diff": max_abs(kernel_logits, eager)}
    rec.note(f"'{cfg['prompt']}' -> next token {tok.itos[top_eager]!r} (eager) / {tok.itos[top_swap]!r} (Triton kernels)")
    return out
