"""OPS.md fixed-point arithmetic as TIR expressions, for single-stage TE kernels.

Each requantizing op becomes one `te.compute` whose body is one expression (instead of a
chain of Relax elementwise ops, which leaves one loop nest and one buffer per step and
makes LLVM slow to compile and the kernels slow to run). Per-channel constants travel
as one int32 table `qp[c, :] = [bias, m, left, right, mask, half]` computed by `qparams`.
"""
from __future__ import annotations

import numpy as np
from tvm import te, tirx

QP_BIAS, QP_M, QP_LEFT, QP_RIGHT, QP_MASK, QP_HALF = range(6)

Scalar = "tirx.PrimExpr | int"


def qparams(bias: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int32 (n, 6) table of bias, multiplier, left shift, right shift, mask, half mask."""
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    mask = (np.int64(1) << right) - 1
    cols = [np.broadcast_to(np.asarray(bias, dtype=np.int64), m.shape), m, left, right, mask,
            mask >> 1]
    return np.stack(cols, axis=-1).astype(np.int32)


def _i64(v: Scalar) -> tirx.PrimExpr:
    return tirx.const(v, "int64") if isinstance(v, int) else tirx.Cast("int64", v)


def _i32(v: Scalar) -> tirx.PrimExpr:
    return tirx.const(v, "int32") if isinstance(v, int) else v


def mbqm(x: tirx.PrimExpr, m: Scalar, left: Scalar, right: Scalar, mask: Scalar,
         half: Scalar) -> tirx.PrimExpr:
    """MultiplyByQuantizedMultiplier of an int32 expression; returns int32.

    `m` is never INT32_MIN (multipliers are >= 0), so SRDHM's saturating case cannot occur.
    Python ints are folded as immediates (left == 0 and right == 0 drop their steps).
    """
    x64 = tirx.Cast("int64", x)
    if not (isinstance(left, int) and left == 0):  # x * 2^left wraps as int32
        x64 = tirx.Cast("int64", tirx.Cast("int32", x64 << _i64(left)))
    ab = x64 * _i64(m)
    num = ab + tirx.Select(ab < 0, tirx.const(1 - (1 << 30), "int64"),
                           tirx.const(1 << 30, "int64"))
    c31 = tirx.const(31, "int64")
    q = tirx.Cast("int32", tirx.Select(num < 0, -((-num) >> c31), num >> c31))
    if isinstance(right, int) and right == 0:
        return q
    rem = q & _i32(mask)
    threshold = _i32(half) + tirx.Select(q < 0, tirx.const(1, "int32"), tirx.const(0, "int32"))
    return (q >> _i32(right)) + tirx.Select(rem > threshold, tirx.const(1, "int32"),
                                            tirx.const(0, "int32"))


def mbqm_scalar(x: tirx.PrimExpr, m: int, shift: int) -> tirx.PrimExpr:
    """`mbqm` with one multiplier and shift, all folded as immediates."""
    left, right = max(shift, 0), max(-shift, 0)
    mask = (1 << right) - 1
    return mbqm(x, int(m), left, right, mask, mask >> 1)


def clamp_i8(y: tirx.PrimExpr, lo: int, hi: int) -> tirx.PrimExpr:
    return tirx.Cast("int8", tirx.Max(tirx.Min(y, tirx.const(int(hi), "int32")),
                                      tirx.const(int(lo), "int32")))


def requant_channels(acc: te.Tensor, qp: te.Tensor, zp: int, lo: int, hi: int,
                     has_left: bool) -> te.Tensor:
    """int32 accumulator (channels last) -> int8: + bias, MBQM, + zp, clamp; one stage."""
    def body(*i):
        c = i[-1]
        left = qp[c, QP_LEFT] if has_left else 0
        y = mbqm(acc(*i) + qp[c, QP_BIAS], qp[c, QP_M], left, qp[c, QP_RIGHT],
                 qp[c, QP_MASK], qp[c, QP_HALF])
        return clamp_i8(y + tirx.const(int(zp), "int32"), lo, hi)
    return te.compute(acc.shape, body, name="requant")
