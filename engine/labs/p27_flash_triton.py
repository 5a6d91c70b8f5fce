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

import math
from typing import Any

import numpy as np
import torch

from engine.core.run import Recorder
from engine.systems.kernels.reference import attention64, max_abs, max_scaled

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def _lse64(q: np.ndarray, k: np.ndarray, causal: bool) -> np.ndarray:
    s = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    return (m + np.log(np.exp(s - m).sum(-1, keepdims=True)))[..., 0]


def _naive_torch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=s.device).tril(), float("-inf"))
    return torch.softmax(s.float(), -1).to(q.dtype) @ v


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
        for causal in cfg["causal"]:
            o, lse = flash_attention(q.to(dev), k.to(dev), v.to(dev), causal=bool(causal), block_m=int(cfg["block_m"]),
                                     block_n=int(cfg["block_n"]), fault=cfg.get("fault"))
            qn, kn, vn = (t.float().numpy() for t in (q, k, v))
            oracle = attention64(qn, kn, vn, bool(causal))
            err = max_abs(o.float().cpu().numpy(), oracle)
            scaled = max_scaled(o.float().cpu().numpy(), oracle)
            lse_err = max_abs(lse.cpu().numpy(), _lse64(qn, kn, bool(causal)))
            row: dict[str, Any] = {"n": n, "causal": str(bool(causal)), "max_abs_err": err, "max_scaled_err": scaled,
                                   "lse_max_abs_err": lse_err}
            if compiled:
                from engine.systems.hardware.gpu import event_seconds

                qd, kd, vd = q.cuda(), k.cuda(), v.cuda()
                sdpa = torch.nn.functional.scaled_dot_product_attention(qd, kd, vd, is_causal=bool(causal))
                row["sdpa_max_abs_diff"] = max_abs(o.float().cpu().numpy(), sdpa.float().cpu().numpy())
                worst_sdpa = max(worst_sdpa, row["sdpa_max_abs_diff"])
                reps = int(cfg["timing_reps"])
                row["flash_ms"] = 1e3 * event_seconds(lambda qd=qd, kd=kd, vd=vd, c=bool(causal): flash_attention(qd, kd, vd, c), reps)
                row["sdpa_ms"] = 1e3 * event_seconds(lambda qd=qd, kd=kd, vd=vd, c=bool(causal): torch.nn.functional.scaled_dot_product_attention(qd, kd, vd, is_causal=c), reps)
                if n <= int(cfg["naive_max_n"]):
                    row["naive_ms"] = 1e3 * event_seconds(lambda qd=qd, kd=kd, vd=vd, c=bool(causal): _naive_torch(qd, kd, vd, c), reps)
                    if n == 4096 and causal:
                        out["speedup_n4096"] = row["naive_ms"] / row["flash_ms"]
            rec.log(step, stage="check", **row)
            step += 1
            worst, worst_lse, worst_scaled = max(worst, err), max(worst_lse, lse_err), max(worst_scaled, scaled)
        rec.progress(step, len(lengths) * len(cfg["causal"]))
    out.update(max_abs_err_vs_reference=worst, max_err_vs_reference=worst_scaled, lse_max_abs_err=worst_lse,
               max_abs_diff_vs_sdpa=worst_sdpa if compiled else None, max_n_checked=max(lengths))
    if not compiled:
        rec.note("ran under Triton's interpreter on the CPU: correctness against float64 only, no SDPA or timings")
    return out
