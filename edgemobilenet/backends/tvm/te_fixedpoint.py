"""OPS.md fixed-point arithmetic as TIR expressions, for single-stage TE kernels.

Each requantizing op becomes one `te.compute` whose body is one expression (a chain of
Relax elementwise ops leaves one loop nest and one buffer per step, which makes LLVM slow
to compile and the kernels slow to run).

MBQM (`mbqm`) is SRDHM then RDIVPOT, equal to `fixedpoint.mbqm` for every int32 input
(m >= 0): SRDHM(a, m) = (a * m + 2^30) >> 31 (gemmlowp's nudge and truncation give this
floor form; the result fits int32 for m >= 0), then the rounding shift by `right` in
int32 (`round_shift`, rounding half away from zero). SRDHM is one of two forms: the int64
product (any target) or aarch64's `sqrdmulh`, which computes exactly that in int32
(`has_sqrdmulh`: one fact, from the target). Per-channel constants are the columns
`[bias, m, left, right, half]` of the int32 table built by `qparams`
(half = 2^(right-1) - 1, 0 when right is 0).

Workloads depend on shapes only: zero points, clamp bounds, multipliers and shifts are
read from small int32 tensors (kernel arguments), never folded into the TIR as immediates,
so every calibration of an architecture gives the same kernels and one tuning database
serves them all. A scalar multiplier is the 4 entries `[m, left, right, half]` of
`scalar_qparams`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from tvm import te, tirx

SQRDMULH = "llvm.aarch64.neon.sqrdmulh"


def has_sqrdmulh(target: dict[str, Any]) -> bool:
    """Whether a TVM target dict is aarch64, whose Advanced SIMD (every Armv8-A core)
    has `sqrdmulh` (`SQRDMULH`, the LLVM intrinsic used by `mbqm`)."""
    return str(target.get("mtriple", "")).startswith("aarch64")


def qparams(bias: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int32 (n, 5) table: bias, multiplier, left shift, right shift, half."""
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    half = np.where(right > 0, (np.int64(1) << np.maximum(right - 1, 0)) - 1, 0)
    cols = [np.broadcast_to(np.asarray(bias, dtype=np.int64), m.shape), m, left, right, half]
    return np.stack(cols, axis=-1).astype(np.int32)


def scalar_qparams(m: int, shift: int) -> list[int]:
    """The 4 int32 entries `[m, left, right, half]` of one multiplier and shift."""
    return [int(v) for v in qparams(np.int64(0), np.int64(m), np.int64(shift))[1:]]


def round_shift(q: tirx.PrimExpr, right, half) -> tirx.PrimExpr:
    """RDIVPOT of an int32 `q` by 2^right in int32 (gemmlowp's RoundingDivideByPOT):
    (q >> right) + ((q & mask) + (q >> 31) > half), mask = 2^right - 1, half = mask >> 1
    (0 when right is 0): rounding half away from zero. The sign (-1 or 0) is added to the
    remainder (a fresh value: aarch64's `ssra` accumulates into it, no copy of `half`)."""
    one = tirx.const(1, "int32")
    rem = q & ((one << right) - one)
    up = tirx.Cast("int32", rem + (q >> tirx.const(31, "int32")) > half)
    return (q >> right) + up


def _shift_left(x: tirx.PrimExpr, left) -> tirx.PrimExpr:
    return x if isinstance(left, int) and left == 0 else x << left   # wraps as int32


def mbqm(x: tirx.PrimExpr, m, left, right, half, sqrdmulh: bool = False) -> tirx.PrimExpr:
    """MultiplyByQuantizedMultiplier of an int32 expression; returns int32.

    SRDHM = (a * m + 2^30) >> 31 as an int64 product, or with `sqrdmulh` (aarch64 targets
    only, see `has_sqrdmulh`) in int32 (it saturates only INT32_MIN * INT32_MIN, never
    reached with m >= 0; vectors of at most 4 lanes: LLVM does not split the intrinsic);
    then `round_shift` (q < 0 exactly when a * m + 2^30 < 0, so it equals RDIVPOT of the
    int64 value). Parameters are int32 expressions or Python ints (folded; zero shifts
    drop their steps).
    """
    a = _shift_left(x, left)
    if sqrdmulh:
        q = tirx.call_llvm_pure_intrin("int32", SQRDMULH, a, m)
    else:
        m64 = tirx.const(m, "int64") if isinstance(m, int) else tirx.Cast("int64", m)
        t = tirx.Cast("int64", a) * m64 + tirx.const(1 << 30, "int64")
        q = tirx.Cast("int32", t >> tirx.const(31, "int64"))
    return q if isinstance(right, int) and right == 0 else round_shift(q, right, half)


def mbqm_at(x: tirx.PrimExpr, p: te.Tensor, i: int, sqrdmulh: bool = False) -> tirx.PrimExpr:
    """`mbqm` with the multiplier stored as `scalar_qparams` at `p[i:i + 4]`."""
    return mbqm(x, *(p[i + k] for k in range(4)), sqrdmulh=sqrdmulh)


def clamp_i8(y: tirx.PrimExpr, lo, hi) -> tirx.PrimExpr:
    """Saturate an int32 expression to [lo, hi] (ints or int32 expressions) as int8."""
    def i32(v):
        return tirx.const(int(v), "int32") if isinstance(v, (int, np.integer)) else v
    return tirx.Cast("int8", tirx.Max(tirx.Min(y, i32(hi)), i32(lo)))


def requant_channels(acc: te.Tensor, bias: te.Tensor, m: te.Tensor, left: te.Tensor,
                     right: te.Tensor, half: te.Tensor, q: te.Tensor,
                     channels: int | None = None, sqrdmulh: bool = False) -> te.Tensor:
    """int32 accumulator (channels last) -> int8: + bias, MBQM, + zp, clamp; one stage.

    The per-channel columns of `qparams` come as separate 1-D tensors so the stage stays a
    broadcast op that TVM fuses into the convolution before it; `q` is `[zp, lo, hi]`.
    `channels` keeps only the first channels of a padded accumulator; `sqrdmulh`: see
    `mbqm`.
    """
    def body(*i):
        c = i[-1]
        y = mbqm(acc(*i) + bias[c], m[c], left[c], right[c], half[c], sqrdmulh)
        return clamp_i8(y + q[0], q[1], q[2])
    shape = tuple(acc.shape[:-1]) + (channels if channels is not None else acc.shape[-1],)
    return te.compute(shape, body, name="requant")


def pad_zp(x: te.Tensor, pads: tuple[int, int, int, int], zp: te.Tensor) -> te.Tensor:
    """Pad NHWC int8 `x` spatially (top, left, bottom, right) with the zero point `zp[0]`."""
    top, left, bottom, right = pads
    n, h, w, c = (int(v) for v in x.shape)

    def f(b, i, j, k):
        inside = tirx.all(i >= top, i < h + top, j >= left, j < w + left)
        return tirx.if_then_else(inside, x[b, i - top, j - left, k],
                                 tirx.Cast("int8", zp[0]))
    return te.compute((n, h + top + bottom, w + left + right, c), f, name="pad")
