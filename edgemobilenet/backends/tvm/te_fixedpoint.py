"""OPS.md fixed-point arithmetic as TIR expressions, for single-stage TE kernels.

Each requantizing op becomes one `te.compute` whose body is one expression (a chain of
Relax elementwise ops leaves one loop nest and one buffer per step, which makes LLVM slow
to compile and the kernels slow to run).

MBQM (`mbqm`) is SRDHM then RDIVPOT, equal to `fixedpoint.mbqm` for every int32 input
(m >= 0): SRDHM(a, m) = (a * m + 2^30) >> 31 (gemmlowp's nudge and truncation give this
floor form; the result fits int32 for m >= 0), then the rounding shift by `right` in
int32 (`round_shift`, rounding half away from zero). It has three forms (`form`: one
fact, from the target): `INT64`, the int64 product (any target); `SQRDMULH`, aarch64's
instruction, which computes SRDHM exactly in int32; `PMULDQ` (x86 with AVX-512), both
roundings in one int64 sum per lane pair (`_pmuldq_lanes`). Per-channel constants are
the columns `[bias, m, left, right, half]` of the int32 table built by `qparams`
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
import tvm
from tvm import te, tirx

SQRDMULH_INTRIN = "llvm.aarch64.neon.sqrdmulh"
INT64, SQRDMULH, PMULDQ = "int64", "sqrdmulh", "pmuldq"   # the forms of `mbqm`
# RDIVPOT(SRDHM(a, m), right) of int32 operands (m >= 0): a TIR op that vectorises as an
# elementwise call and lowers for llvm (after vectorisation) to `_pmuldq_lower`
PMULDQ_OP = "tirx.edgemb_mbqm_pmuldq"


def form(target: dict[str, Any] | tvm.target.Target) -> str:
    """The `mbqm` form for a TVM target (or its dict): `SQRDMULH` on aarch64 (every
    Armv8-A core's Advanced SIMD has it), `PMULDQ` on x86 with AVX-512 (`vpmuldq` on the
    even and odd int32 lanes, `vpsravq`, masked adds), else `INT64`."""
    from tvm.target.codegen import llvm_get_system_triple, target_has_features

    tgt = target if isinstance(target, tvm.target.Target) else tvm.target.Target(dict(target))
    triple = str(tgt.attrs.get("mtriple", "")) or llvm_get_system_triple()
    if triple.startswith("aarch64"):
        return SQRDMULH
    if triple.startswith("x86_64") and tgt.kind.name == "llvm" and \
            target_has_features("avx512f", tgt):
        return PMULDQ
    return INT64


def _lanes(e: tirx.PrimExpr) -> int:
    dt = str(e.ty.dtype)
    return int(dt.split("x")[1]) if "x" in dt else 1


def _pmuldq_lanes(a: tirx.PrimExpr, m: tirx.PrimExpr, right: tirx.PrimExpr) -> tirx.PrimExpr:
    """RDIVPOT(SRDHM(a, m), right) of int64 expressions holding int32 values, in int64:
    with P = a * m and t = P + 2^30, SRDHM is t >> 31 and RDIVPOT of q by r > 0 is
    (q + 2^(r-1) - [q < 0]) >> r, so by nested floors the result is
    (P + 2^30 + 2^(30+r) - [t < 0] 2^31) >> (31 + r) (r = 0: t >> 31), exact in int64
    (|P| <= 2^62). [t < 0] may be [P < 0]: they differ only when -2^30 <= P < 0, where
    q = 0 and either gives 0."""
    n = _lanes(a)

    def c(v: int) -> tirx.PrimExpr:
        k = tirx.const(v, "int64")
        return tirx.Broadcast(k, n) if n > 1 else k
    p = a * m
    pos = right > c(0)
    nudge = c(1 << 30) + tirx.Select(pos, c(1 << 30) << right, c(0))
    neg = tirx.Select(pos, c(1 << 31), c(0))
    return (p + nudge - tirx.Select(p < c(0), neg, c(0))) >> (right + c(31))


def _pmuldq_lower(call: tirx.Call) -> tirx.PrimExpr:
    """`PMULDQ_OP` of n int32 lanes: the even lanes and the odd lanes as n/2 int64 lanes
    each (sign-extended low / high halves: `vpmuldq` reads the low halves as they are),
    then interleaved again (`vpermt2d`). Odd lane counts, pairs (one-lane halves are not
    vectors) and scalars: plain int64."""
    a, m, right = call.args
    n = _lanes(call)
    if n % 2 or n == 2:
        return tirx.Cast(call.ty.dtype, _pmuldq_lanes(
            *(tirx.Cast(f"int64x{n}" if n > 1 else "int64", v) for v in (a, m, right))))
    h = n // 2
    k32 = tirx.Broadcast(tirx.const(32, "int64"), h)

    def pairs(v):
        return tirx.call_intrin(f"int64x{h}", "tirx.reinterpret", v)

    even = _pmuldq_lanes(*((pairs(v) << k32) >> k32 for v in (a, m, right)))
    odd = _pmuldq_lanes(*(pairs(v) >> k32 for v in (a, m, right)))
    words = [tirx.call_intrin(f"int32x{n}", "tirx.reinterpret", v) for v in (even, odd)]
    return tirx.Shuffle(words, [i if i % 2 == 0 else n + i - 1 for i in range(n)])


def _register_pmuldq() -> None:
    from tvm.ir import register_op_attr
    from tvm.tirx.op import register_intrin_lowering

    register_op_attr(PMULDQ_OP, "TCallEffectKind", int(tirx.CallEffectKind.Pure.value))
    register_op_attr(PMULDQ_OP, "TVectorizable", True)
    register_intrin_lowering(PMULDQ_OP, "llvm", f=_pmuldq_lower, level=99)


_register_pmuldq()


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


def mbqm(x: tirx.PrimExpr, m, left, right, half, form: str = INT64) -> tirx.PrimExpr:
    """MultiplyByQuantizedMultiplier of an int32 expression; returns int32.

    SRDHM = (a * m + 2^30) >> 31 as an int64 product, or with `SQRDMULH` (aarch64 targets
    only, see `form`) in int32 (it saturates only INT32_MIN * INT32_MIN, never
    reached with m >= 0; vectors of at most 4 lanes: LLVM does not split the intrinsic);
    then `round_shift` (q < 0 exactly when a * m + 2^30 < 0, so it equals RDIVPOT of the
    int64 value). `PMULDQ`: both steps as one call of `PMULDQ_OP` (int32 `m` and `right`
    expressions). Parameters are int32 expressions or Python ints (folded; zero shifts
    drop their steps).
    """
    a = _shift_left(x, left)
    if form == PMULDQ:
        return tirx.call_intrin("int32", PMULDQ_OP, a, m, right)
    if form == SQRDMULH:
        q = tirx.call_llvm_pure_intrin("int32", SQRDMULH_INTRIN, a, m)
    else:
        m64 = tirx.const(m, "int64") if isinstance(m, int) else tirx.Cast("int64", m)
        t = tirx.Cast("int64", a) * m64 + tirx.const(1 << 30, "int64")
        q = tirx.Cast("int32", t >> tirx.const(31, "int64"))
    return q if isinstance(right, int) and right == 0 else round_shift(q, right, half)


def mbqm_at(x: tirx.PrimExpr, p: te.Tensor, i: int, form: str = INT64) -> tirx.PrimExpr:
    """`mbqm` with the multiplier stored as `scalar_qparams` at `p[i:i + 4]`."""
    return mbqm(x, *(p[i + k] for k in range(4)), form=form)


def clamp_i8(y: tirx.PrimExpr, lo, hi) -> tirx.PrimExpr:
    """Saturate an int32 expression to [lo, hi] (ints or int32 expressions) as int8."""
    def i32(v):
        return tirx.const(int(v), "int32") if isinstance(v, (int, np.integer)) else v
    return tirx.Cast("int8", tirx.Max(tirx.Min(y, i32(hi)), i32(lo)))


def requant_channels(acc: te.Tensor, bias: te.Tensor, m: te.Tensor, left: te.Tensor,
                     right: te.Tensor, half: te.Tensor, q: te.Tensor,
                     channels: int | None = None, form: str = INT64) -> te.Tensor:
    """int32 accumulator (channels last) -> int8: + bias, MBQM, + zp, clamp; one stage.

    The per-channel columns of `qparams` come as separate 1-D tensors so the stage stays a
    broadcast op that TVM fuses into the convolution before it; `q` is `[zp, lo, hi]`.
    `channels` keeps only the first channels of a padded accumulator; `form`: see
    `mbqm`.
    """
    def body(*i):
        c = i[-1]
        y = mbqm(acc(*i) + bias[c], m[c], left[c], right[c], half[c], form)
        return clamp_i8(y + q[0], q[1], q[2])
    shape = tuple(acc.shape[:-1]) + (channels if channels is not None else acc.shape[-1],)
    return te.compute(shape, body, name="requant")


def qadd(a: te.Tensor, b: te.Tensor, p: te.Tensor, form: str = INT64) -> te.Tensor:
    """int8 `a + b` (same shapes) as TFLite adds: each input minus its zero point, shifted
    left by `p[5]` and rescaled (`mbqm`), the sum rescaled, + zp, clamp; one stage. `p`:
    `[zp_a, zp_b, zp_y, lo, hi, left_shift]`, then the `scalar_qparams` of a, b and the sum."""
    def f(*i):
        ai = (tirx.Cast("int32", a(*i)) - p[0]) << p[5]
        bi = (tirx.Cast("int32", b(*i)) - p[1]) << p[5]
        s = mbqm_at(ai, p, 6, form) + mbqm_at(bi, p, 10, form)
        return clamp_i8(mbqm_at(s, p, 14, form) + p[2], p[3], p[4])
    return te.compute(a.shape, f, name="add")


def pad_zp(x: te.Tensor, pads: tuple[int, int, int, int], zp: te.Tensor) -> te.Tensor:
    """Pad NHWC int8 `x` spatially (top, left, bottom, right) with the zero point `zp[0]`."""
    top, left, bottom, right = pads
    n, h, w, c = (int(v) for v in x.shape)

    def f(b, i, j, k):
        inside = tirx.all(i >= top, i < h + top, j >= left, j < w + left)
        return tirx.if_then_else(inside, x[b, i - top, j - left, k],
                                 tirx.Cast("int8", zp[0]))
    return te.compute((n, h + top + bottom, w + left + right, c), f, name="pad")
