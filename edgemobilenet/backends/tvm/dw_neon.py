"""aarch64 depthwise convolution with its requantize epilogue, hand-written (`te.extern`).

One kernel per layer computes `y = clamp(MBQM(sum_taps x * w + bias) + zp_y)` for channel
counts a multiple of 8 (`covers`); other shapes keep `te_depthwise` + `te_fixedpoint`.
Per output row and block of 8 channels the taps' weights are loaded once; the
output row is split at build time (shapes are static) into border pixels and an interior
of `PIXELS`-pixel tiles: a tile loads each input column once for all its pixels and
accumulates into two int32x4 per pixel: widened (`sxtl`) with `smlal`/`smlal2`, or, when
no weight of the layer is -128 (`Form.pairs`), as int8 with two taps' products summed in
int16 (`smull` + `smlal`) and added with `saddw`/`saddw2`. A tap outside
the input reads the zero point (its product with the weight is accumulated, as the
reference pads): border rows and columns know at build time which taps fall outside, so
they need no test at run time. Rows run over threads.
The epilogue is gemmlowp's NEON form: `sqrdmulh`, then RoundingDivideByPOT as
`and`+`sshr`+`sqadd`+`srshl`, or `ssra`+`srshl` when every channel shifts right (equal to
`te_fixedpoint.round_shift` for every int32),
then `sqxtn` to int16, `sqadd` of the output zero point, `sqxtn` to int8 and the clamp
in int8 (saturating steps only move values that the clamp sends to the same bound).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from edgemobilenet.backends.tvm.dw_window import Window
from edgemobilenet.backends.tvm.intrin_neon import neon

LANES = 8      # channels per block (one int16x8, two int32x4 accumulators per pixel)
PIXELS = 4     # output pixels per interior tile


@dataclass(frozen=True)
class Form:
    """The steps a layer needs (from its constants): a left shift in some channel (`left`),
    a right shift in every channel (`all_right`: the rounding's sign fix-up is one `ssra`),
    taps summed in pairs in int16 (`pairs`: no weight is -128, so
    |x * w1 + x' * w2| <= 2 * 128 * 127 < 2^15; int8 inputs, no `sxtl`)."""
    left: bool
    all_right: bool
    pairs: bool

    @staticmethod
    def of(table: np.ndarray, w: np.ndarray) -> Form:
        """The form for a `params` table and the layer's int8 weights."""
        return Form(bool((table[2] != 0).any()), bool((table[3] < 0).all()),
                    bool(w.min() > -128))


def covers(shape) -> bool:
    """Whether `stmt` handles an NHWC input of this shape (batch 1, channels % 8 == 0)."""
    return len(shape) == 4 and int(shape[0]) == 1 and int(shape[3]) % LANES == 0


def params(qparams: np.ndarray) -> np.ndarray:
    """`te_fixedpoint.qparams`' (C, 5) table -> the kernel's (4, C) rows bias, multiplier,
    left shift, minus the right shift."""
    bias, m, left, right, _ = qparams.T
    return np.stack([bias, m, left, -right]).astype(np.int32)


def stmt(x, w, p, q, y, pads: tuple[int, int, int, int], stride: tuple[int, int],
         dilation: tuple[int, int], form: Form):
    """The kernel over buffers x (1, H, W, C) int8, w (KH, KW, C) int8, p (`params`, whose
    `Form.of` is `form`), q [zp_x, zp_y, lo, hi] int32 -> y (1, OH, OW, C) int8."""
    c = int(x.shape[3])
    kh, kw, _ = (int(v) for v in w.shape)
    win = Window.of(x, y, (kh, kw), pads, stride, dilation)
    top, left, _, _ = pads
    (sh, sw), (dh, dw) = stride, dilation

    def row(oy, vky, k):
        """Output row `oy` (an expression), whose taps `vky` read inside, channel block k."""
        ch = k * LANES
        wide = "int8x8" if form.pairs else "int16x8"
        wv = {(a, b): T.bind(T.Cast(wide, w.vload([a, b, ch], "int8x8")))
              for a in range(kh) for b in range(kw)}
        pv = [[T.bind(p.vload([r, ch + 4 * half], "int32x4")) for half in (0, 1)]
              for r in range(4)]
        zp = T.bind(T.broadcast(T.Cast(wide[:-2], q[0]), LANES))
        zpy = T.bind(T.broadcast(T.Cast("int16", q[1]), LANES))
        lo = T.bind(T.broadcast(T.Cast("int8", q[2]), LANES))
        hi = T.bind(T.broadcast(T.Cast("int8", q[3]), LANES))

        def pixels(ox0, vkx: list[tuple[int, ...]]):
            """Pixels `ox0 + i` (i < len(vkx)), pixel i's taps `vkx[i]` reading inside."""
            loaded = {}
            for i, vk in enumerate(vkx):
                taps = []
                for a in range(kh):
                    for b in range(kw):
                        if a in vky and b in vk:
                            key = (a, i * sw + b * dw)
                            if key not in loaded:
                                loaded[key] = T.bind(T.Cast(wide, x.vload(
                                    [0, oy * sh + a * dh - top, ox0 * sw + key[1] - left, ch],
                                    "int8x8")))
                            taps.append((loaded[key], wv[a, b]))
                        else:
                            taps.append((zp, wv[a, b]))
                acc = (_sum_pairs if form.pairs else _sum_wide)(list(pv[0]), taps)
                out = requant(acc, pv, zpy, lo, hi, form)
                T.buffer_store(y, out, [0, oy, ox0 + i, T.ramp(ch, 1, LANES)])

        win.columns(PIXELS, pixels)

    return win.rows_stmt(c // LANES, row)


def _sum_wide(acc: list, taps: list) -> list:
    """Two int32x4 accumulators + the int16x8 taps' products (`smlal`, `smlal2`)."""
    for v, wt in taps:
        for half, part in enumerate((T.vectorlow, T.vectorhigh)):
            acc[half] = acc[half] + neon("smull.v4i32", "int32x4", part(v, dtype="int16x4"),
                                         part(wt, dtype="int16x4"))
    return acc


def _sum_pairs(acc: list, taps: list) -> list:
    """Two int32x4 accumulators + the int8x8 taps' products, two taps at a time summed in
    int16 (`smull` + `smlal`, then `saddw`, `saddw2`)."""
    for j in range(0, len(taps), 2):
        s = None
        for v, wt in taps[j:j + 2]:
            p = neon("smull.v8i16", "int16x8", v, wt)
            s = p if s is None else s + p
        for half, part in enumerate((T.vectorlow, T.vectorhigh)):
            acc[half] = acc[half] + T.Cast("int32x4", part(s, dtype="int16x4"))
    return acc


def requant(acc: list, pv: list, zpy, lo, hi, form: Form):
    """int8x8 of two int32x4 sums: + bias (in `acc` already), `<< left`, `sqrdmulh`,
    rounding shift right, + zp_y, clamp."""
    sign = T.broadcast(T.int32(31), 4)
    halves = []
    for half in (0, 1):
        a = acc[half] << pv[2][half] if form.left else acc[half]
        a = neon("sqrdmulh.v4i32", "int32x4", a, pv[1][half])
        if form.all_right:   # `ssra`: sqrdmulh by m < 2^31 is never INT32_MIN, no overflow
            a = a + (a >> sign)
        else:                # the sign only where the channel shifts right
            a = neon("sqadd.v4i32", "int32x4", a, (a & pv[3][half]) >> sign)
        a = neon("srshl.v4i32", "int32x4", a, pv[3][half])
        halves.append(neon("sqxtn.v4i16", "int16x4", a))
    s16 = neon("sqadd.v8i16", "int16x8", T.vectorcombine(*halves, dtype="int16x8"), zpy)
    return tirx.Max(tirx.Min(neon("sqxtn.v8i8", "int8x8", s16), hi), lo)
