"""Phase 03 labs: einsum predictions, matmul speed ladder, SVD compression, norms.

lab-01 (matmul) is a timing lab; the other three are deterministic. The break
(`swapped_contraction`) turns 'ik,kj->ij' into 'ki,kj->ij' inside the einsum matmul.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._heatmaps import heatmap_grid
from engine.scratch.linalg import einsum_check, matmul, norms, svd_compress
from engine.systems.hardware.matmul_ladder import speed_ladder


def einsum_shapes(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: 20 einsum expressions, shape and FLOPs predicted from subscripts, then run."""
    rng = np.random.default_rng(cfg["seed"])
    dims = dict(einsum_check.DIMS, B=int(cfg["batch"]), VERBS=20, CELLS=15)
    shape_ok = flops_ok = 0
    for i, (name, spec, letters) in enumerate(einsum_check.PROBLEMS):
        sizes = einsum_check.letter_sizes(letters, dims)
        ops = [rng.standard_normal(s).astype(np.float32) for s in einsum_check.operand_shapes(spec, sizes)]
        out = np.einsum(spec, *ops, optimize=True)
        pred_shape = einsum_check.predict_shape(spec, sizes)
        pred_flops = einsum_check.predict_flops(spec, sizes)
        got_flops = einsum_check.numpy_flops(spec, ops)
        shape_ok += out.shape == pred_shape
        flops_ok += einsum_check.flops_agree(pred_flops, got_flops)
        rec.log(i, stage="einsum", name=name, spec=spec, shape=str(out.shape), predicted=str(pred_shape),
                pass_shape=int(out.shape == pred_shape), flops=pred_flops, numpy_flops=got_flops)
    # M @ one_hot(i) selects column i.
    m = rng.standard_normal((dims["D"], dims["V"])).astype(np.float32)
    onehot = np.zeros(dims["V"], np.float32)
    onehot[47] = 1.0
    col_ok = bool(np.array_equal(np.einsum("dv,v->d", m, onehot), m[:, 47]))
    # Orthogonal E: E^T is its inverse.
    e, _ = np.linalg.qr(rng.standard_normal((dims["D"], dims["D"])))
    inv_err = float(np.max(np.abs(np.einsum("ij,ik->jk", e, e) - np.eye(dims["D"]))))
    return {"n_problems": len(einsum_check.PROBLEMS), "shapes_pass": shape_ok, "flops_pass": flops_ok,
            "onehot_selects_column": col_ok, "orthogonal_inverse_err": inv_err,
            "ffn_flops": 2 * einsum_check.predict_flops("btd,df->btf", {"b": dims["B"], "t": dims["T"], "d": dims["D"], "f": dims["F"]}),
            "attention_flops": 2 * einsum_check.predict_flops("bhqd,bhkd->bhqk", {"b": dims["B"], "h": dims["H"], "q": dims["T"], "k": dims["T"], "d": dims["K"]})}


def matmul_perf(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: naive / blocked / einsum / np.matmul GFLOP/s vs N, with correctness gates first."""
    spec = "ki,kj->ij" if cfg.get("fault") == "swapped_contraction" else "ik,kj->ij"
    rng = np.random.default_rng(cfg["seed"])
    gates = matmul.correctness_gates(spec, rng)
    sizes = [int(n) for n in cfg["sizes"]]
    naive_max = int(cfg["naive_max_n"])
    methods = {"naive": matmul.matmul_naive, "blocked": matmul.matmul_blocked,
               "einsum": lambda x, y: matmul.matmul_einsum(x, y, spec), "np.matmul": np.matmul}
    step = iter(range(len(sizes) * len(methods)))

    def point(n: int, method: str, gflops: float, extrapolated: bool) -> None:
        rec.log(next(step), stage="perf", n=n, method=method, gflops=gflops, extrapolated=int(extrapolated))

    ladder = speed_ladder(methods, sizes, rng, naive_max_n=naive_max, min_time_s=float(cfg["min_time_ms"]) / 1000,
                          on_point=point, on_size=lambda i: rec.progress(i + 1, len(sizes)))
    gf, extrapolated, top = ladder.gflops, ladder.extrapolated, sizes[-1]
    rec.note(f"naive at N in {extrapolated} extrapolated from N={naive_max} with T(N) = 8 T(N/2)" if extrapolated
             else "naive measured at every N")
    return {
        **gates,
        "naive_mflops": max(gf["naive"][n] for n in sizes if n not in extrapolated) * 1e3,
        "blas_gflops_top": gf["np.matmul"][top], "blocked_gflops_top": gf["blocked"][top],
        "einsum_gflops_top": gf["einsum"][top], "speedup_top": gf["np.matmul"][top] / gf["naive"][top],
        "top_n": top, "naive_extrapolated_at": extrapolated,
        "blocked_over_naive_top": gf["blocked"][top] / gf["naive"][top],
        "flops_64x128x32": matmul.matmul_flops(64, 128, 32),
    }


def svd_compression(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: rank-k SVD of the 20x15 conjugation-count matrix; Eckart-Young checked."""
    seed = int(cfg["seed"])
    c, verbs, cells = svd_compress.conjugation_counts(seed, zipf_s=float(cfg["zipf_s"]))
    ks = [int(k) for k in cfg["ks"]]
    table = svd_compress.compression_table(c, ks)
    s = np.asarray(table["singular_values"])
    for i, sv in enumerate(s):
        rec.log(i + 1, stage="spectrum", k=i + 1, sigma=float(sv))
    ey_fro = ey_op = 0.0
    for r in table["rows"]:
        rec.log(r["k"], stage="compress", **r)
        ey_fro = max(ey_fro, abs(r["frobenius_error"] - r["eckart_young_fro"]) / s[0])
        ey_op = max(ey_op, abs(r["op_norm_error"] - r["sigma_next"]) / s[0])
    rng = np.random.default_rng(seed)
    beaten = sum(svd_compress.random_rank_k_error(c, k, rng) < r["frobenius_error"] * (1 - 1e-5)
                 for r in table["rows"] for k in [r["k"]] if k < len(s) for _ in range(20))
    knee = next((r["k"] for r in table["rows"] if r["relative_error"] < 0.05), None)
    cross = max((r["k"] for r in table["rows"] if r["storage"] < c.size), default=0)
    freq = c.sum(axis=1)
    _plot_svd(c, s, table["rows"], rec)
    return {
        "shape": list(c.shape), "total_count": float(c.sum()), "sigma_1": float(s[0]),
        "effective_rank": int(np.sum(s > 0.01 * s[0])), "knee_k": knee, "storage_crossover_k": cross,
        "eckart_young_fro_max_rel": ey_fro, "eckart_young_op_max_rel": ey_op, "random_beats_svd": int(beaten),
        "rank1_relative_error": table["rows"][0]["relative_error"],
        "storage_at_crossover": next(r["storage"] for r in table["rows"] if r["k"] == cross) if cross else 0,
        # captured energy sum_{i<=k} s_i^2 / sum s_i^2 must equal 1 - (relative residual)^2, measured independently
        "energy_identity_max_err": max(abs(r["captured_energy"] - (1 - r["relative_error"] ** 2)) for r in table["rows"]),
        "most_over_least_frequent": float(freq.max() / max(freq.min(), 1)),
        "verb_order": verbs, "cell_order": cells,
    }


def _plot_svd(c: np.ndarray, s: np.ndarray, rows: list[dict[str, Any]], rec: Recorder) -> None:
    u, _, vt = np.linalg.svd(c, full_matrices=False)
    show = [k for k in (1, 3, 5, 10, 15) if k <= len(s)]
    err = {r["k"]: r["relative_error"] for r in rows}
    panels = [("C", c)] + [(f"k={k}, rel err {err.get(k, 0):.3f}", svd_compress.truncate(u, s, vt, k)) for k in show]
    path = heatmap_grid(panels, rec.out_dir / "reconstructions.png", ncols=len(panels), vmin=0, vmax=float(c.max()))
    rec.artifact(path, "chart")

def norms_experiment(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: ||Ax|| / (||A|| ||x||) over random unit vectors, submultiplicativity, stable L2."""
    rng = np.random.default_rng(cfg["matrix_seed"])
    n = int(cfg["n"])
    a = rng.standard_normal((n, n))
    sig = norms.op_norm(a)
    xs = rng.standard_normal((int(cfg["n_samples"]), n))
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    ratios = np.linalg.norm(xs @ a.T, axis=1) / sig
    hist, edges = np.histogram(ratios, bins=30, range=(0, 1))
    for i, h in enumerate(hist):
        rec.log(i, stage="ratios", r_mid=float((edges[i] + edges[i + 1]) / 2), count=int(h))
    _, _, vt = np.linalg.svd(a)
    r_top = float(np.linalg.norm(a @ vt[0]) / sig)
    worst_sub = 0.0
    for _ in range(int(cfg["n_pairs"])):
        p, q = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        worst_sub = max(worst_sub, norms.op_norm(p @ q) / (norms.op_norm(p) * norms.op_norm(q)),
                        norms.frobenius_norm(p @ q) / (norms.frobenius_norm(p) * norms.frobenius_norm(q)))
    v = np.array([3.0, -4.0, 12.0, 0.0])
    huge = np.array([1e30, 1e30], dtype=np.float32)
    s = np.linalg.svd(a, compute_uv=False)
    return {
        "matrix_shape": [n, n], "n_random_samples": int(len(ratios)), "sigma_max": sig,
        "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max()), "ratio_mean": float(ratios.mean()),
        "ratio_at_top_singular_vector": r_top, "worst_submultiplicative_ratio": worst_sub,
        "v_l1": norms.l1_norm(v), "v_l2": norms.l2_norm(v), "v_linf": norms.linf_norm(v),
        "fro_minus_l2_of_sigma": abs(norms.frobenius_norm(a) - float(np.sqrt(np.sum(s**2)))),
        "stable_l2_huge": norms.l2_norm(huge), "naive_l2_huge_is_inf": not np.isfinite(norms.l2_norm_naive(huge)),
        "condition_number": float(s[0] / s[-1]),
    }
