"""x86 AVX512-VNNI depthwise convolution with its requantize epilogue, hand-written (`te.extern`).

One kernel per layer computes `y = clamp(MBQM(sum_taps x * w + bias) + zp_y)` for channel
counts a multiple of 16 (`covers`); other shapes keep `te_depthwise` + `te_fixedpoint`.
`vpdpbusd` sums 4 products uint8 x int8 per int32 lane, exactly (no saturation): a lane is
a channel and its 4 bytes are 4 kernel rows of one input column, `[x(r0) x(r1) x(r2) x(r3)]`
(rows past the kernel read anything: their weight is 0). Such a column vector (16
channels, one `vpermt2b`-like shuffle of 4 loads, activations offset by +128 with one xor)
serves every output pixel of a tile whose kernel covers that column, one `vpdpbusd` each:
a 3x3 kernel costs 3 per pixel, its columns shared by neighbouring pixels. The +128 is
folded into the bias (`params`). A tap outside the input reads the zero point (border rows
and columns know at build time which taps fall outside). Per output row and block of 16
channels the weights are loaded once; rows run over threads. Epilogue: `te_fixedpoint`'s
`PMULDQ` form (+ bias as the accumulator's start, `<< left` when a channel shifts left).
When only unpadded packed convolutions read the output, it is stored as their prepared
input (uint8 y + 128, `Form.unsigned`): no preparation kernel between them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm.dw_window import ROWS, Window

LANES = 16     # channels per block (one int32x16 accumulator per pixel)
PIXELS = 8     # output pixels per interior tile
OFFSET = 128   # activations as uint8: x + 128


@dataclass(frozen=True)
class Form:
    """The steps a layer needs: a left shift in some channel (`left`); the output as
    uint8 `y + 128` (`unsigned`: only packed convolutions read it, as `layouts.VNNI`'s
    prepared input)."""
    left: bool
    unsigned: bool

    @staticmethod
    def of(table: np.ndarray, unsigned: bool) -> Form:
        return Form(bool((table[2] != 0).any()), unsigned)


def covers(shape) -> bool:
    """Whether `stmt` handles an NHWC input of this shape (batch 1, channels % 16 == 0)."""
    return len(shape) == 4 and int(shape[0]) == 1 and int(shape[3]) % LANES == 0


def params(qparams: np.ndarray) -> np.ndarray:
    """`te_fixedpoint.qparams`' (C, 5) table (its bias folded with the activations'
    zero point plus `OFFSET`) -> the kernel's (4, C) rows bias, multiplier, left, right."""
    return np.ascontiguousarray(qparams[:, :4].T).astype(np.int32)


def _dpbusd(acc, a_u8, b_i8):
    return T.call_llvm_pure_intrin(T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
                                   acc, a_u8, b_i8, dtype="int32x16")


# byte 4c + s of a column vector = byte c of row vector s
_INTERLEAVE = [s * LANES + c for c in range(LANES) for s in range(ROWS)]


def stmt(x, w, p, q, y, kh: int, pads: tuple[int, int, int, int], stride: tuple[int, int],
         dilation: tuple[int, int], form: Form):
    """The kernel over buffers x (1, H, W, C) int8, w (`dw_window.weights` of a `kh`-row
    kernel), p (`params`, whose `Form.of` is `form`), q [zp_x, zp_y, lo, hi] int32 -> y
    (1, OH, OW, C) int8 (uint8 + 128 with `form.unsigned`)."""
    c = int(x.shape[3])
    kw, groups, _, _ = (int(v) for v in w.shape)
    win = Window.of(x, y, (kh, kw), pads, stride, dilation)
    top, left, _, _ = pads
    (sh, sw), (dh, dw) = stride, dilation

    def row(oy, vky, k):
        """Output row `oy` (an expression), whose kernel rows `vky` read inside, block k."""
        ch = k * LANES
        wv = {(b, g): T.bind(w.vload([b, g, ch, 0], "int8x64"))
              for b in range(kw) for g in range(groups)}
        bias, m, lsh, rsh = (T.bind(p.vload([r, ch], "int32x16")) for r in range(4))
        zp = T.bind(T.broadcast(T.Cast("int8", q[0]), LANES))
        flip = T.broadcast(T.int8(-128), 4 * LANES)
        zpy = T.bind(T.broadcast(q[1], LANES))
        lo = T.bind(T.broadcast(q[2], LANES))
        hi = T.bind(T.broadcast(q[3], LANES))
        shift = T.broadcast(T.int32(OFFSET), LANES)

        def column(xi: int | tirx.PrimExpr, g: int, inside: bool):
            parts = []
            for s in range(ROWS):
                r = g * ROWS + s
                if inside and r in vky:
                    parts.append(x.vload([0, oy * sh + r * dh - top, xi, ch], "int8x16"))
                else:
                    parts.append(zp)
            v = T.Shuffle(parts, _INTERLEAVE) ^ flip
            return T.bind(T.reinterpret(v, dtype="uint8x64"))

        def pixels(ox0, vkx: list[tuple[int, ...]]):
            """Pixels `ox0 + i` (i < len(vkx)), pixel i's columns `vkx[i]` reading inside."""
            built = {}
            for i, vk in enumerate(vkx):
                acc = bias
                for b in range(kw):
                    off = i * sw + b * dw
                    for g in range(groups):
                        key = (off, g)   # one column, whatever pixel reads it
                        if key not in built:
                            built[key] = column(ox0 * sw + off - left, g, b in vk)
                        acc = _dpbusd(acc, built[key], wv[b, g])
                a = acc << lsh if form.left else acc
                a = tirx.call_intrin("int32x16", tfp.PMULDQ_OP, a, m, rsh)
                out = tirx.Max(tirx.Min(a + zpy, hi), lo)
                out = T.Cast("uint8x16", out + shift) if form.unsigned else T.Cast("int8x16", out)
                T.buffer_store(y, out, [0, oy, ox0 + i, T.ramp(ch, 1, LANES)])

        win.columns(PIXELS, pixels)

    return win.rows_stmt(c // LANES, row)
