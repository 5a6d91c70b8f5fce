"""Phase 02 probes: bit fields, stable softmax, compensated sums and INT8 codes, learner vs reference."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree


def bit_anatomy(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.numerics.floats import BF16, FP16, FP32, FP64

    special32 = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0x7F7FFFFF,
                 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x40490FDB]
    cases = [(f"fp32 bits 0x{r:08x}", (r, FP32)) for r in special32]
    cases += [(f"fp32 bits 0x{r:08x}", (r, FP32)) for r in rng.integers(0, 2**32, size=40).tolist()]
    for fmt in (FP16, BF16, FP64):
        raws = rng.integers(0, 2**min(fmt.bits, 63), size=20).tolist() + [0, 1, (1 << (fmt.bits - 1))]
        cases += [(f"{fmt.name} bits {hex(r)}", (r, fmt)) for r in raws]
    out = agree(learner, reference, "decode_bits", cases, rtol=0.0, atol=0.0)
    fields = [(int(s), int(e), int(m)) for s, e, m in zip(rng.integers(0, 2, 30), rng.integers(0, 255, 30),
                                                         rng.integers(0, 2**23, 30), strict=True)]
    out += agree(
        learner,
        reference,
        "encode_fp32",
        [(f"fields {f}", f) for f in fields + [(0, 0, 1), (1, 254, 2**23 - 1)]],
        rtol=0.0,
        atol=0.0,
    )
    xs = [float(x) for x in rng.normal(scale=1e3, size=40)]
    xs += [
        1.0,
        1.00390625,
        1.005859375,
        1.0 + 2**-8,
        1.0 + 3 * 2**-9,
        -2.5,
        3.0e38,
        1e-40,
        float("inf"),
        float("-inf"),
        float("nan"),
    ]
    for rounding in ("nearest", "truncate"):
        out += agree(learner, reference, "to_bf16", [(f"x={x!r}, rounding={rounding}", (x, rounding)) for x in xs])
    return out


def softmax(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    cases = []
    for dtype in (np.float32, np.float64):
        for shape in [(5,), (4, 7), (1,), (2, 3, 6)]:
            for scale in (1.0, 30.0, 1000.0):
                cases.append((f"{np.dtype(dtype).name} logits of shape {shape} x{scale:g}",
                              ((rng.normal(size=shape) * scale + rng.uniform(-500, 500)).astype(dtype),)))
        masked = rng.normal(size=(3, 5)).astype(dtype)
        masked[0, :2] = -np.inf
        masked[2, :] = -np.inf  # a fully masked row
        cases.append((f"{np.dtype(dtype).name} rows with -inf logits (one fully masked)", (masked,)))
    out: list[str] = []
    for name in ("log_sum_exp", "stable_softmax", "log_softmax"):
        out += agree(learner, reference, name, cases, rtol=1e-6, atol=1e-6)
        if out:
            return out
    small = [(what, args) for what, args in cases if np.all(np.isfinite(args[0])) and np.abs(args[0]).max() < 80]
    for name in ("log_sum_exp", "stable_softmax"):
        out += agree(learner, reference, name, small, rtol=1e-6, atol=1e-6, shift=False)
    return out


def summation(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    cases = []
    for n in (1, 2, 7, 8, 9, 100, 1000, 4097):
        cases.append((f"{n} uniform values", (rng.uniform(0, 1, n).astype(np.float32),)))
    cases.append(("10000 copies of 1/600", ((np.float32(1 / 600) + np.zeros(10000)).astype(np.float32),)))
    cases.append(("1e8 then 1000 ones", (np.concatenate([[1e8], np.ones(1000)]).astype(np.float32),)))
    cases.append(("alternating +-1e7 with small terms",
                  (np.concatenate([np.tile([1e7, 0.5, -1e7], 200), rng.uniform(0, 1, 50)]).astype(np.float32),)))
    cases.append(("empty", (np.zeros(0, dtype=np.float32),)))
    out: list[str] = []
    for name in ("kahan_sum", "pairwise_sum", "neumaier_sum"):
        out += agree(learner, reference, name, cases, rtol=1e-7, atol=0.0)
        if out:
            return out
    return out


def quantization(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    arrays = [rng.normal(size=257).astype(np.float32), rng.uniform(0, 1, 300).astype(np.float32),
              (rng.standard_t(2, size=500) * 3).astype(np.float32), -rng.uniform(0, 5, 64).astype(np.float32),
              np.zeros(8, dtype=np.float32), np.array([0.3], dtype=np.float32)]
    cases = [(f"{x.size} values in [{x.min():.3g}, {x.max():.3g}]", (x,)) for x in arrays]
    out = agree(learner, reference, "choose_scale_symmetric", cases, rtol=1e-12)
    out += agree(learner, reference, "choose_scale_asymmetric", cases, rtol=1e-12)
    if out:
        return out
    for x in arrays:
        s = float(np.abs(x).max() or 1.0) / 127.0
        for scale in (s, s / 3):  # a too-small scale: codes must saturate, not wrap
            out += agree(
                learner, reference, "quantize_fp32_to_int8", [(f"x of {x.size}, scale {scale:.3g}", (x, scale))]
            )
        sa, za = reference.choose_scale_asymmetric(x)
        out += agree(
            learner,
            reference,
            "quantize_asym",
            [
                (f"x of {x.size}, scale {sa:.3g}, zero {za}", (x, sa, za)),
                (f"x of {x.size}, scale {sa / 4:.3g}, zero {za}", (x, sa / 4, za)),
            ],
        )
        q = rng.integers(-128, 128, size=50).astype(np.int8)
        out += agree(learner, reference, "dequantize_asym", [(f"codes, scale {sa:.3g}, zero {za}", (q, sa, za))])
        if out:
            return out
    return out
