"""IEEE-754 formats taken apart bit by bit: fp32 with `struct` only, bf16 and fp16 by their fields.

A binary float is (-1)^sign x 1.mantissa x 2^(exponent - bias) for normal numbers, and
0.mantissa x 2^(1 - bias) for denormals (exponent field 0). Exponent all ones means inf
(mantissa 0) or NaN. bf16 is the top 16 bits of fp32 (same 8-bit exponent, 7 mantissa bits);
fp16 keeps 5 exponent and 10 mantissa bits, so it overflows at 65504.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Format:
    name: str
    exp_bits: int
    man_bits: int

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def epsilon(self) -> float:
        return 2.0 ** -self.man_bits

    @property
    def max_normal(self) -> float:
        return (2 - 2.0 ** -self.man_bits) * 2.0 ** ((1 << self.exp_bits) - 2 - self.bias)

    @property
    def min_normal(self) -> float:
        return 2.0 ** (1 - self.bias)


FP64 = Format("fp64", 11, 52)
FP32 = Format("fp32", 8, 23)
FP16 = Format("fp16", 5, 10)
BF16 = Format("bf16", 8, 7)
FORMATS = {f.name: f for f in (FP64, FP32, FP16, BF16)}


def decode_bits(raw: int, fmt: Format) -> dict[str, object]:
    """Split a raw bit pattern into fields and rebuild the value from them (no float casts)."""
    man_mask = (1 << fmt.man_bits) - 1
    exp_mask = (1 << fmt.exp_bits) - 1
    sign = (raw >> (fmt.bits - 1)) & 1
    e = (raw >> fmt.man_bits) & exp_mask
    m = raw & man_mask
    is_zero = e == 0 and m == 0
    is_denormal = e == 0 and m != 0
    is_inf = e == exp_mask and m == 0
    is_nan = e == exp_mask and m != 0
    is_normal = 0 < e < exp_mask
    if is_nan:
        value = math.nan
    elif is_inf:
        value = -math.inf if sign else math.inf
    elif is_normal:
        value = (-1) ** sign * (1 + m / 2**fmt.man_bits) * 2.0 ** (e - fmt.bias)
    else:  # zero or denormal
        value = (-1) ** sign * (m / 2**fmt.man_bits) * 2.0 ** (1 - fmt.bias)
    return {
        "raw_bits": f"0x{raw:0{fmt.bits // 4}x}", "sign": sign, "biased_exponent": e,
        "unbiased_exponent": (e - fmt.bias) if is_normal else (1 - fmt.bias if is_denormal else None),
        "mantissa_bits": m, "is_normal": is_normal, "is_denormal": is_denormal, "is_zero": is_zero,
        "is_inf": is_inf, "is_nan": is_nan, "reconstructed_value": value,
    }


def fp32_bits(x: float) -> int:
    return struct.unpack(">I", struct.pack(">f", x))[0]


def fp64_bits(x: float) -> int:
    return struct.unpack(">Q", struct.pack(">d", x))[0]


def bits_to_fp32(raw: int) -> float:
    return struct.unpack(">f", struct.pack(">I", raw & 0xFFFFFFFF))[0]


def decode_fp32(x: float) -> dict[str, object]:
    """The course's decoder: x rounded to fp32, then its fields."""
    return decode_bits(fp32_bits(x), FP32)


def encode_fp32(sign: int, biased_exponent: int, mantissa: int) -> float:
    return bits_to_fp32((sign << 31) | (biased_exponent << 23) | mantissa)


def to_bf16(x: float, rounding: str = "nearest") -> int:
    """fp32 -> bf16 bits. 'nearest' is round-half-to-even (what hardware does); 'truncate' drops bits."""
    raw = fp32_bits(x)
    if rounding == "truncate" or (raw & 0x7F800000) == 0x7F800000:  # inf/NaN: keep the top bits
        return (raw >> 16) | (0x40 if (raw & 0x7FFFFFFF) > 0x7F800000 else 0)
    lsb = (raw >> 16) & 1
    return ((raw + 0x7FFF + lsb) >> 16) & 0xFFFF


def from_bf16(bits: int) -> float:
    return bits_to_fp32(bits << 16)


def round_trip_bf16(x: float, rounding: str = "nearest") -> float:
    return from_bf16(to_bf16(x, rounding))


def to_fp16_bits(x: float) -> int:
    return int(np.array([x], dtype=np.float16).view(np.uint16)[0])


def round_trip_fp16(x: float) -> float:
    with np.errstate(over="ignore", under="ignore"):
        return float(np.float16(x))
