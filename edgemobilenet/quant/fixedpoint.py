"""gemmlowp / TFLite fixed-point arithmetic, vectorised over numpy int arrays (see OPS.md).

Everything that runs at inference time here is integer-only; `quantize_multiplier` is the
one offline helper that turns a real scale into an int32 multiplier and a shift.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Real multiplier >= 0 -> (m, shift) with real ~= m * 2^(shift - 31), m in [2^30, 2^31)."""
    if real < 0:
        raise ValueError(f"negative multiplier {real}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = int(round(q * (1 << 31)))
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier {real} too large for int32 fixed point")
    return m, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel `quantize_multiplier`: int32 arrays (multiplier, shift)."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    m = np.array([p[0] for p in pairs], dtype=np.int32)
    s = np.array([p[1] for p in pairs], dtype=np.int32)
    return m, s


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of an int64 array to int32 range (kept as int64)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 values; returns int64 holding int32."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    num = a * b
    neg = num >> 63                       # -1 where a*b < 0, else 0 (branch-free)
    num += (1 << 30) + (neg & (1 - (1 << 31)))   # nudge: 2^30, or 1 - 2^30 when negative
    neg = num >> 63
    num += neg & ((1 << 31) - 1)          # C-style truncating division by 2^31
    num >>= 31
    # only INT32_MIN * INT32_MIN reaches 2^31: saturate it
    return np.minimum(num, INT32_MAX)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT: round-half-away-from-zero division by 2^exponent."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > threshold)


def mbqm(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (TFLite): int32 in, int32 out (as int64 arrays).

    `multiplier` and `shift` broadcast against x (per-channel along the last axis).
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(srdhm(_wrap32(x << left), multiplier), right)


def round_div_away(s: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """Integer division rounding half away from zero (average pooling)."""
    s = np.asarray(s, dtype=np.int64)
    c = np.asarray(count, dtype=np.int64)
    num = np.where(s >= 0, s + c // 2, s - c // 2)
    return np.where(num >= 0, num // c, -((-num) // c))


def saturate_int8(x: np.ndarray, lo: int = -128, hi: int = 127) -> np.ndarray:
    return np.clip(x, lo, hi).astype(np.int8)
