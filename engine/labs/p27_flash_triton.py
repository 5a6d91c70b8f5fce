"""Phase 27 lab-02: the FlashAttention forward in Triton (engine/systems/kernels/flash.py), checked.

For each sequence length and causal setting: seeded (B, H, N, d) queries, keys and values,
rounded to the lab's dtype, go through the kernel; the output is compared with a float64
oracle on the same rounded inputs, and the stored log-sum-exp with the oracle's. On a GPU the
kernel also meets torch's scaled_dot_product_attention and a materialised (naive) attention,
timed with CUDA events. Without one it runs under Triton's interpreter: correctness only.
Fault `no_rescale` (the break) drops the alpha = e^(m - m') rescaling of the running sums.
The backward pass is not implemented.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.run import Recorder
from engine.systems.kernels.flash_check import check_case, gpu_race

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def flash_forward(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    from engine.systems.kernels import runtime

    env = runtime.prepare(str(cfg["device"]))
    from engine.systems.kernels.flash import flash_attention

    dev, compiled = env["device"], env["mode"] == "compiled"
    dtype = DTYPES[str(cfg["dtype"])]
    b, h, d = int(cfg["batch"]), int(cfg["heads"]), int(cfg["d_head"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    worst = worst_lse = worst_sdpa = worst_scaled = 0.0
    out: dict[str, Any] = {**env, "dtype": str(cfg["dtype"]), "block_m": int(cfg["block_m"]), "block_n": int(cfg["block_n"]),
                           "backward": "not implemented"}
    step = 0
    lengths = [int(n) for n in cfg["lengths"] if compiled or int(n) <= int(cfg["interpreter_max_n"])]
    if len(lengths) < len(cfg["lengths"]):
        rec.note(f"under the interpreter lengths above {cfg['interpreter_max_n']} are skipped (minutes each on a CPU)")
    for n in lengths:
        q, k, v = (torch.randn(b, h, n, d, generator=gen).to(dtype) for _ in range(3))
        for causal in (bool(c) for c in cfg["causal"]):
            o, errs = check_case(flash_attention, q, k, v, causal, dev, int(cfg["block_m"]), int(cfg["block_n"]),
                                 cfg.get("fault"))
            row: dict[str, Any] = {"n": n, "causal": str(causal), **errs}
            if compiled:
                row.update(gpu_race(flash_attention, o, q, k, v, causal, int(cfg["timing_reps"]),
                                    n <= int(cfg["naive_max_n"])))
                worst_sdpa = max(worst_sdpa, row["sdpa_max_abs_diff"])
                if n == 4096 and causal and "naive_ms" in row:
                    out["speedup_n4096"] = row["naive_ms"] / row["flash_ms"]
            rec.log(step, stage="check", **row)
            step += 1
            worst, worst_lse = max(worst, errs["max_abs_err"]), max(worst_lse, errs["lse_max_abs_err"])
            worst_scaled = max(worst_scaled, errs["max_scaled_err"])
        rec.progress(step, len(lengths) * len(cfg["causal"]))
    out.update(max_abs_err_vs_reference=worst, max_err_vs_reference=worst_scaled, lse_max_abs_err=worst_lse,
               max_abs_diff_vs_sdpa=worst_sdpa if compiled else None, max_n_checked=max(lengths))
    if not compiled:
        rec.note("ran under Triton's interpreter on the CPU: correctness against float64 only, no SDPA or timings")
    return out
