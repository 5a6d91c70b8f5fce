"""INT8 quantization, symmetric and asymmetric: x ~ s * (q - z).

Symmetric: z = 0, s = max|x| / 127, q in [-127, 127]; exact zero, wastes range when x is
one-sided. Asymmetric: the range [min(x, 0), max(x, 0)] is spread over 256 codes, s = range / 255, and
the zero point z (an int8) is where 0.0 lands, so zero stays exact; on one-sided data such as
probabilities it uses twice the codes a symmetric scale would. Round-to-nearest error is at most s/2.
"""

from __future__ import annotations

import numpy as np


def choose_scale_symmetric(x: np.ndarray) -> float:
    return max(float(np.max(np.abs(x))), 1e-12) / 127.0


def quantize_fp32_to_int8(x: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(x / scale), -127, 127).astype(np.int8)


def dequantize_int8_to_fp32(q: np.ndarray, scale: float) -> np.ndarray:
    return q.astype(np.float32) * np.float32(scale)


def choose_scale_asymmetric(x: np.ndarray) -> tuple[float, int]:
    lo, hi = min(float(np.min(x)), 0.0), max(float(np.max(x)), 0.0)  # keep 0 representable
    scale = max(hi - lo, 1e-12) / 255.0
    zero = int(np.clip(np.rint(-128 - lo / scale), -128, 127))
    return scale, zero


def quantize_asym(x: np.ndarray, scale: float, zero: int) -> np.ndarray:
    return np.clip(np.rint(x / scale) + zero, -128, 127).astype(np.int8)


def dequantize_asym(q: np.ndarray, scale: float, zero: int) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(zero)) * np.float32(scale)


def error_metrics(x: np.ndarray, xq: np.ndarray, q: np.ndarray) -> dict[str, float]:
    err = np.abs(x.astype(np.float64) - xq.astype(np.float64))
    denom = float(np.linalg.norm(x)) * float(np.linalg.norm(xq))
    return {
        "mae": float(err.mean()), "max_err": float(err.max()),
        "rel_err": float(np.linalg.norm(x - xq) / max(np.linalg.norm(x), 1e-30)),
        "cos_sim": float(np.dot(x.astype(np.float64), xq.astype(np.float64)) / denom) if denom else 0.0,
        "n_codes": int(np.unique(q).size),
    }


def round_trip(x: np.ndarray, scheme: str) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Quantize and dequantize with `scheme` in {symmetric, asymmetric}; returns (q, x_hat, metrics)."""
    x = x.astype(np.float32)
    if scheme == "symmetric":
        s = choose_scale_symmetric(x)
        q = quantize_fp32_to_int8(x, s)
        xq = dequantize_int8_to_fp32(q, s)
        z = 0
    else:
        s, z = choose_scale_asymmetric(x)
        q = quantize_asym(x, s, z)
        xq = dequantize_asym(q, s, z)
    return q, xq, {**error_metrics(x, xq, q), "scale": s, "zero_point": z}
