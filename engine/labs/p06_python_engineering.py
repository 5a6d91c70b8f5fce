"""Phase 06 labs: strides and views, the broadcasting trap, the vectorisation budget.

lab-01 and lab-03 are timing labs (times in results, checks on ratios); lab-02 is exact.
The break (`column_broadcast`) adds a per-row bias without the [:, None].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.systems.hardware.timing import time_call


def byte_offset(index: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """Where element `index` lives, in bytes from the start of the buffer: sum_j i_j * s_j."""
    return sum(i * s for i, s in zip(index, strides, strict=True))


def strides_and_views(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: a.T is O(1) (a view with swapped strides); making it contiguous or copying is O(n)."""
    rng = np.random.default_rng(cfg["seed"])
    sizes = [int(n) for n in cfg["sizes"]]
    min_t = float(cfg["min_time_ms"]) / 1000
    times: dict[str, dict[int, float]] = {"transpose": {}, "ascontiguousarray_T": {}, "copy": {}}
    step = 0
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        ops = {"transpose": lambda a=a: a.T, "ascontiguousarray_T": lambda a=a: np.ascontiguousarray(a.T),
               "copy": lambda a=a: a.copy()}
        for op, fn in ops.items():
            times[op][n] = time_call(fn, min_time_s=min_t).best_s
            rec.log(step, stage="cost", n=n, mib=4 * n * n / 2**20, op=op, ms=times[op][n] * 1e3)
            step += 1
    a = rng.standard_normal((8, 8), dtype=np.float32)
    b, c = a.T, np.ascontiguousarray(a.T)
    arr = np.arange(20, dtype=np.int32)
    view = arr[::2]
    view[0] = -999  # writes through to arr
    safe = np.arange(20, dtype=np.int32)[::2].copy()
    m = np.zeros((3, 4), dtype=np.int32)
    lo, hi = sizes[0], sizes[-1]
    return {
        "view_base_is_a": b.base is a, "copy_base_is_not_a": c.base is not a,
        "copy_c_contiguous": bool(c.flags.c_contiguous), "view_not_c_contiguous": not b.flags.c_contiguous,
        "transpose_swaps_strides": b.strides == a.strides[::-1],
        "slice_owndata": bool(view.flags.owndata), "write_through": int(arr[0]) == -999,
        "safe_copy_owndata": bool(safe.flags.owndata), "fancy_index_is_copy": arr[[0, 2]].base is None,
        "int32_3x4_strides": list(m.strides), "offset_2_3": byte_offset((2, 3), m.strides),
        "transpose_growth": times["transpose"][hi] / times["transpose"][lo],
        "copy_growth": times["copy"][hi] / times["copy"][lo],
        "contig_growth": times["ascontiguousarray_T"][hi] / times["ascontiguousarray_T"][lo],
        "bytes_growth": (hi / lo) ** 2,
        "transpose_us_at_max": times["transpose"][hi] * 1e6, "copy_ms_at_max": times["copy"][hi] * 1e3,
        "contig_ms_at_max": times["ascontiguousarray_T"][hi] * 1e3, "max_n": hi,
    }


def add_row_bias(logits: np.ndarray, bias: np.ndarray, fault: str | None = None) -> np.ndarray:
    """Add bias[i] to every entry of row i. The fault drops the [:, None] and adds per column."""
    return logits + bias if fault == "column_broadcast" else logits + bias[:, None]


def broadcasting_trap(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: (N,) minus (N, 1) silently becomes (N, N); three fixes; a shape catalogue."""
    y_pred = np.arange(10, dtype=np.float32)
    y_true = (np.arange(10) + 0.1).astype(np.float32).reshape(10, 1)
    err = y_pred - y_true
    mse_wrong = float(np.mean(err**2))
    fixes = {"squeeze": float(np.mean((y_pred - y_true.squeeze()) ** 2)),
             "newaxis": float(np.mean((y_pred[:, None] - y_true) ** 2)),
             "reshape_both": float(np.mean((y_pred.reshape(-1) - y_true.reshape(-1)) ** 2))}
    catalog: dict[str, str] = {}
    for i, (name, s1, s2) in enumerate((("(3,4)+(4,)", (3, 4), (4,)), ("(3,4)+(3,)", (3, 4), (3,)),
                                        ("(B,1,N,D)+(1,H,N,D)", (32, 1, 16, 64), (1, 4, 16, 64)))):
        try:
            catalog[name] = str(np.broadcast_shapes(s1, s2))
        except ValueError:
            catalog[name] = "ValueError"
        rec.log(i, stage="catalog", case=name, result=catalog[name],
                out_ndim=0 if catalog[name] == "ValueError" else catalog[name].count(",") + 1)
    fault = cfg.get("fault")
    logits = np.zeros((3, 4))
    bias = np.array([100.0, 200.0, 300.0])
    try:
        out = add_row_bias(logits, bias, fault)
        nonsquare_ok = bool(all(np.all(out[i] - logits[i] == bias[i]) for i in range(3)))
        nonsquare_error = "none"
    except ValueError as exc:
        nonsquare_ok, nonsquare_error = False, type(exc).__name__
    sq = add_row_bias(np.arange(1.0, 10.0).reshape(3, 3) * 0 + np.array([1.0, 2.0, 3.0]), bias, fault)
    expected = np.array([[101.0, 102.0, 103.0], [201.0, 202.0, 203.0], [301.0, 302.0, 303.0]])
    return {
        "err_shape": list(err.shape), "mse_wrong": mse_wrong, "mse_right": fixes["squeeze"],
        "wrong_over_right": mse_wrong / fixes["squeeze"],
        "fixes_agree": max(fixes.values()) - min(fixes.values()) < 1e-6,
        "catalog_3x4_4": catalog["(3,4)+(4,)"], "catalog_3x4_3": catalog["(3,4)+(3,)"],
        "catalog_heads": catalog["(B,1,N,D)+(1,H,N,D)"],
        "row_bias_nonsquare_ok": nonsquare_ok, "row_bias_nonsquare_error": nonsquare_error,
        "row_bias_square_ok": bool(np.array_equal(sq, expected)), "row_bias_square_first_row": sq[0].tolist(),
    }


def python_sum(arr: np.ndarray) -> float:
    s = 0.0
    for v in arr:
        s += v
    return float(s)


def vectorization_budget(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: a Python loop sum vs arr.sum() on float32 arrays of 2^k elements."""
    rng = np.random.default_rng(cfg["seed"])
    ks = range(int(cfg["min_log2"]), int(cfg["max_log2"]) + 1)
    min_t = float(cfg["min_time_ms"]) / 1000
    ratios: dict[int, float] = {}
    for i, k in enumerate(ks):
        n = 2**k
        arr = rng.random(n, dtype=np.float32)
        one_rep = n > 2 ** int(cfg["single_rep_above_log2"])
        t_py = time_call(lambda arr=arr: python_sum(arr), min_time_s=0.0 if one_rep else min_t, batches=1 if one_rep else 3)
        t_np = time_call(lambda arr=arr: arr.sum(), min_time_s=min_t)
        ratios[n] = t_py.best_s / t_np.best_s
        rec.log(i, stage="budget", size=n, python_ns=t_py.best_s * 1e9, numpy_ns=t_np.best_s * 1e9, ratio=ratios[n])
        rec.progress(i + 1, len(ks))
    sizes = sorted(ratios)
    probe = rng.random(4096, dtype=np.float32)  # the loop must compute the sum, not just take time
    sum_rel_err = abs(python_sum(probe) - math.fsum(probe.astype(np.float64).tolist())) / math.fsum(probe.tolist())
    crossover = next((n for n in sizes if ratios[n] > 1.0), None)
    top = sizes[-3:]
    return {"python_sum_rel_err": sum_rel_err, "n_sizes": len(sizes), "crossover_n": crossover, "ratio_at_smallest": ratios[sizes[0]],
            "plateau_ratio": float(np.median([ratios[n] for n in top])), "max_n": sizes[-1]}
