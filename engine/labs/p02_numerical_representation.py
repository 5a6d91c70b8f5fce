"""Phase 02 labs: float bits, softmax stability, summation error, int8 round trips.

All four are deterministic (no timings in results). The break (`no_max_shift`) removes the
max subtraction from the "stable" softmax family.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.scratch.numerics import floats, quant, softmax, summation

SELF_TEST = [0.0, -0.0, 1.0, 1 / 600, 92.0, 0.1, 1e-40, math.inf, math.nan]
ROUND_TRIP = [1.0, 1 / 600, 92.0, 0.1, 1e-20]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def bit_anatomy(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: decode fp32 by fields, self-test the decoder, bf16/fp16 round-trip table."""
    worked = {"one": floats.decode_bits(0x3F800000, floats.FP32), "pi": floats.decode_bits(0x40490FDB, floats.FP32),
              "one_600": floats.decode_fp32(1 / 600), "ninety_two": floats.decode_fp32(92.0)}
    ok = 0
    for i, x in enumerate(SELF_TEST):
        d = floats.decode_fp32(x)
        good = _same(d["reconstructed_value"], float(np.float32(x)))
        enc = floats.encode_fp32(d["sign"], d["biased_exponent"], d["mantissa_bits"])
        good = good and _same(enc, float(np.float32(x)))
        ok += good
        rec.log(i, stage="self_test", value=repr(x), bits=d["raw_bits"], ok=int(good))
    worst_bf16 = 0.0
    for i, x in enumerate(ROUND_TRIP):
        x32 = float(np.float32(x))
        bf, fp16 = floats.round_trip_bf16(x32), floats.round_trip_fp16(x32)
        rel_bf, rel_16 = abs(bf - x32) / abs(x32), abs(fp16 - x32) / abs(x32)
        worst_bf16 = max(worst_bf16, rel_bf)
        rec.log(i, stage="round_trip", value=repr(x), bf16_bits=f"0x{floats.to_bf16(x32):04x}", bf16=bf,
                bf16_rel_err=rel_bf, fp16=fp16, fp16_rel_err=rel_16)
    s = float(np.float32(0.1) + np.float32(0.2))
    s64_bits, t64_bits = (f"0x{floats.fp64_bits(v):016x}" for v in (0.1 + 0.2, 0.3))
    rec.note(f"fp64: 0.1+0.2 -> {s64_bits}, 0.3 -> {t64_bits} (one ulp apart). "
             f"fp32: 0.1+0.2 -> {floats.decode_fp32(s)['raw_bits']}, 0.3 -> {floats.decode_fp32(0.3)['raw_bits']} (equal)")
    return {
        "self_test_ok": ok, "self_test_n": len(SELF_TEST),
        "one_bits": worked["one"]["raw_bits"], "pi_value": worked["pi"]["reconstructed_value"],
        "one_600_bits": worked["one_600"]["raw_bits"], "one_600_exponent": worked["one_600"]["biased_exponent"],
        "one_600_mantissa": worked["one_600"]["mantissa_bits"], "ninety_two_bits": worked["ninety_two"]["raw_bits"],
        "bf16_worst_rel_err": worst_bf16, "bf16_unit_roundoff": 2.0**-8,
        "fp16_of_1e-20": floats.round_trip_fp16(1e-20), "bf16_of_1e-20": floats.round_trip_bf16(1e-20),
        "fp64_sum_01_02_bits": s64_bits, "fp64_03_bits": t64_bits, "fp64_01_plus_02_equals_03": 0.1 + 0.2 == 0.3,
        "fp64_01_plus_02_ulps_off": floats.fp64_bits(0.1 + 0.2) - floats.fp64_bits(0.3),
        "fp32_sum_01_02_bits": floats.decode_fp32(s)["raw_bits"], "fp32_03_bits": floats.decode_fp32(0.3)["raw_bits"],
        "fp32_01_plus_02_equals_03": s == float(np.float32(0.3)),
        "fp16_max": floats.FP16.max_normal, "fp32_eps": floats.FP32.epsilon,
        "formats_match_finfo": _formats_match_finfo(),
        # two exact ties between bf16 neighbours: round-half-to-even keeps 0x3f80 and goes up to 0x3f82
        "bf16_tie_even_bits": f"0x{floats.to_bf16(floats.bits_to_fp32(0x3F808000)):04x}",
        "bf16_tie_odd_bits": f"0x{floats.to_bf16(floats.bits_to_fp32(0x3F818000)):04x}",
    }


def _formats_match_finfo() -> bool:
    """Our field-derived epsilon, largest and smallest normal agree with NumPy's own finfo."""
    pairs = ((floats.FP16, np.float16), (floats.FP32, np.float32), (floats.FP64, np.float64))
    return all(f.epsilon == float(np.finfo(t).eps) and f.max_normal == float(np.finfo(t).max)
               and f.min_normal == float(np.finfo(t).tiny) for f, t in pairs)


SOFTMAX_CASES: dict[str, list[float]] = {
    "small": [1.2, 4.7, 3.1, 0.5, 2.9],
    "mixed": [-2.5, 0.0, 3.7, -1.2, 1.8],
    "large_positive": [1.0, 92.0, 3.0, 0.0, 2.0],
    "large_negative": [-100.0, -101.0, -99.0, -102.0, -100.0],
    "very_negative": [-200.0, -300.0, -250.0, -220.0, -400.0],
    "identical": [3.0, 3.0, 3.0, 3.0, 3.0],
    "masked": [-math.inf, 1.0, 2.0, -math.inf, 0.5],
    "single": [42.0],
    "vocab_zeros": [0.0] * 600,
}


def softmax_stability(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: naive vs stable on an fp32 case battery; CE battery; scipy parity at fp64."""
    shift = cfg.get("fault") != "no_max_shift"
    dtype = np.float32 if cfg["dtype"] == "float32" else np.float64
    out: dict[str, Any] = {}
    naive_nan = stable_nan = 0
    for i, (name, vals) in enumerate(SOFTMAX_CASES.items()):
        x = np.asarray(vals, dtype=dtype)
        pn, ps = softmax.naive_softmax(x), softmax.stable_softmax(x, shift=shift)
        y = 1 if x.size > 1 else 0  # the course's y=1 does not exist for the single-element case
        ce_n, ce_s = float(softmax.naive_cross_entropy(x, y)), float(softmax.stable_cross_entropy(x, y, shift=shift))
        nn_, sn = bool(np.isnan(pn).any()), bool(np.isnan(ps).any())
        naive_nan += nn_
        stable_nan += sn
        finite = np.isfinite(pn) & np.isfinite(ps)
        rel = float(np.max(np.abs(pn[finite] - ps[finite]) / np.maximum(np.abs(ps[finite]), 1e-30))) if finite.any() else math.nan
        rec.log(i, stage="cases", case=name, naive_nan=int(nn_), stable_nan=int(sn), naive_sum=float(np.sum(pn)),
                stable_sum=float(np.sum(ps)), stable_max=float(np.max(ps)), rel_diff=rel, ce_naive=ce_n, ce_stable=ce_s)
        out[f"ce_{name}"] = ce_s if math.isfinite(ce_s) else str(ce_s)
        out[f"{name}_stable_sum"] = float(np.sum(ps)) if not sn else "nan"
    worked = float(softmax.stable_cross_entropy(np.asarray([1.2, 92.0, 3.1, 0.5, 2.9], dtype=dtype), 2, shift=shift))
    # scipy parity at fp64 (an oracle for tests and this check only)
    from scipy import special

    z = np.random.default_rng(cfg["seed"]).standard_normal((64, 600)) * 10
    parity = {
        "softmax": float(np.max(np.abs(softmax.stable_softmax(z) - special.softmax(z, axis=-1)))),
        "lse_rel": float(np.max(np.abs(softmax.log_sum_exp(z) / special.logsumexp(z, axis=-1) - 1))),
    }
    rec.note(f"naive NaN on {naive_nan} of {len(SOFTMAX_CASES)} cases, {'stable' if shift else 'unshifted'} NaN on {stable_nan}")
    out.update({"n_cases": len(SOFTMAX_CASES), "naive_nan_cases": naive_nan, "stable_nan_cases": stable_nan,
                "worked_ce": worked if math.isfinite(worked) else str(worked),
                "scipy_softmax_max_abs": parity["softmax"], "scipy_lse_max_rel": parity["lse_rel"]})
    return out


def summation_error(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: naive/pairwise/Kahan/Neumaier/fp64-accumulator error vs N, against math.fsum."""
    rng = np.random.default_rng(cfg["seed"])
    ns = [int(n) for n in cfg["sizes"]]
    w1 = np.full(600, 1 / 600, dtype=np.float32)
    out: dict[str, Any] = {f"w1_{m}": fn(w1) for m, fn in summation.METHODS.items()}
    errs: dict[str, dict[int, float]] = {m: {} for m in summation.METHODS}
    for i, n in enumerate(ns):
        x = (1 / 600 + rng.normal(0.0, 1e-5, n)).astype(np.float32)
        ref = summation.exact_sum(x)
        for m, fn in summation.METHODS.items():
            errs[m][n] = abs(fn(x) - ref)
            rec.log(i, stage="error", n=n, method=m, abs_err=max(errs[m][n], 1e-12))
        rec.progress(i + 1, len(ns))
    big = ns[-1]
    # Workload 3 as the course wrote it, and as it meant it (past 2^24 the +1.0 is rounded away).
    w3 = np.concatenate([[1e6], np.ones(1_000_000 if not cfg.get("quick") else 100_000)]).astype(np.float32)
    w4 = np.concatenate([[2.0**24], np.ones(1000)]).astype(np.float32)
    ulp = float(np.spacing(np.float32(summation.exact_sum((1 / 600 + np.zeros(big)).astype(np.float32)))))
    out.update({
        "sizes": ns, "naive_err_max_n": errs["naive"][big], "pairwise_err_max_n": errs["pairwise"][big],
        "kahan_err_max_n": errs["kahan"][big], "neumaier_err_max_n": errs["neumaier"][big],
        "fp64_err_max_n": errs["fp64_acc"][big], "ulp_at_result": ulp,
        "naive_over_kahan": errs["naive"][big] / max(errs["kahan"][big], ulp / 100),
        "naive_growth": errs["naive"][big] / max(errs["naive"][ns[0]], 1e-12),
        "w3_expected": float(summation.exact_sum(w3)), "w3_naive": summation.naive_sum(w3),
        "w4_naive": summation.naive_sum(w4), "w4_kahan": summation.kahan_sum(w4), "w4_exact": 2.0**24 + 1000,
        "self_test_ten_ones": summation.naive_sum(np.ones(10, dtype=np.float32)),
        "kahan_err_ulps": errs["kahan"][big] / ulp, "naive_err_ulps": errs["naive"][big] / ulp,
        "pairwise_err_ulps": errs["pairwise"][big] / ulp, "neumaier_err_ulps": errs["neumaier"][big] / ulp,
    })
    out["w3_naive_exact"] = out["w3_naive"] == out["w3_expected"]
    out["w4_kahan_exact"] = out["w4_kahan"] == out["w4_exact"]
    rec.note(f"N={big}: naive err {errs['naive'][big]:.3g}, Kahan {errs['kahan'][big]:.3g} (ulp {ulp:.3g}); "
             f"[2^24] + 1000 ones: naive {out['w4_naive']:.0f}, Kahan {out['w4_kahan']:.0f}")
    return out


def _distributions(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(0.0, 1.5, 600))
    return {
        "tense_logits": np.asarray([1.2, 4.7, 3.1, 0.5, 2.9], dtype=np.float32),
        "verb_probs": (e / e.sum()).astype(np.float32),
        "hidden": rng.standard_normal(1024).astype(np.float32),
    }


def quantization_preview(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: int8 symmetric/asymmetric round trips on three distributions, with error metrics."""
    out: dict[str, Any] = {}
    step = 0
    for dist, x in _distributions(cfg["seed"]).items():
        out[dist] = {}
        for scheme in ("symmetric", "asymmetric"):
            q, xq, m = quant.round_trip(x, scheme)
            out[dist][scheme] = {k: m[k] for k in ("mae", "max_err", "rel_err", "cos_sim", "n_codes", "scale")}
            rec.log(step, stage="schemes", dist=dist, scheme=scheme, label=f"{dist}/{scheme}", **out[dist][scheme])
            step += 1
            if dist == "verb_probs":
                top = np.argsort(-x)[:10]
                topq = np.argsort(-xq, kind="stable")[:10]
                out[dist][scheme]["top10_same_order"] = bool(np.array_equal(top, topq))
                out[dist][scheme]["top10_overlap"] = int(len(set(top) & set(topq)))
                small = x < np.median(x)
                out[dist][scheme]["zeroed_below_median"] = float(np.mean(xq[small] == 0))
            if dist == "hidden" and scheme == "symmetric":
                err = np.abs(x - xq)
                hist, edges = np.histogram(err, bins=20, range=(0, m["scale"] / 2 * 1.05))
                for i, c in enumerate(hist):
                    rec.log(i, stage="hist", err_mid=float((edges[i] + edges[i + 1]) / 2), count=int(c))
                out["hidden_max_err_over_half_step"] = float(err.max() / (m["scale"] / 2))
    vp = out["verb_probs"]["symmetric"]
    asym_steps, zero_exact = 0.0, True
    for x in _distributions(cfg["seed"]).values():  # asymmetric: error <= s/2 and 0.0 comes back exactly
        s, z = quant.choose_scale_asymmetric(x.astype(np.float32))
        xq = quant.dequantize_asym(quant.quantize_asym(x.astype(np.float32), s, z), s, z)
        asym_steps = max(asym_steps, float(np.max(np.abs(x.astype(np.float64) - xq)) / (s / 2)))
        zero_exact &= float(quant.dequantize_asym(quant.quantize_asym(np.zeros(1, np.float32), s, z), s, z)[0]) == 0.0
    out.update({"asym_max_err_over_half_step": asym_steps, "asym_zero_exact": bool(zero_exact),"hidden_sym_cos_sim": out["hidden"]["symmetric"]["cos_sim"],
                "hidden_sym_rel_err": out["hidden"]["symmetric"]["rel_err"],
                "verb_probs_sym_zeroed": vp["zeroed_below_median"],
                "verb_probs_asym_zeroed": out["verb_probs"]["asymmetric"]["zeroed_below_median"],
                "verb_probs_sym_top10_overlap": vp["top10_overlap"],
                "tense_logits_sym_max_err": out["tense_logits"]["symmetric"]["max_err"],
                "asym_over_sym_zeroed": out["verb_probs"]["asymmetric"]["zeroed_below_median"] / max(vp["zeroed_below_median"], 1e-9)})
    rec.note(f"verb probs: scale {vp['scale']:.2e}, {vp['n_codes']} distinct codes, "
             f"{vp['zeroed_below_median']:.0%} of the smaller half become exactly 0: INT8 per-tensor is not fit for them.")
    return out
