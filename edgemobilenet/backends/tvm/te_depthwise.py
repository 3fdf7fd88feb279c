"""TE kernel of a depthwise convolution (channel multiplier 1), channels innermost.

Weights are `(KH, KW, C)` int8 so one kernel tap is a contiguous channel vector: the
default schedule (`default_schedules`) vectorises the channel loop. The kernel reads its
own padding: a tap outside the input reads the zero point (no padding kernel, no padded
copy), and `-zp * sum(w)` is folded into the bias. Each bounds test is `likely`, so TIR's
LoopPartition (`build.PASS_CONFIG`) splits the output rows and column tiles into border
and interior, and the interior runs without tests. Products of two int8 values fit int16
(|p| <= 2^14), so they are int16 multiplies widened into the int32 sum (`smull` + `saddw`
on NEON, `vpmullw` on x86).
"""
from __future__ import annotations

import numpy as np
from tvm import te, tirx

BLOCK = "depthwise"


def weights(w: np.ndarray) -> np.ndarray:
    """QGraph OHWI `(C, KH, KW, 1)` -> `(KH, KW, C)`."""
    return np.ascontiguousarray(w[:, :, :, 0].transpose(1, 2, 0))


def depthwise(x: te.Tensor, w: te.Tensor, zp: te.Tensor, pads: tuple[int, int, int, int],
              stride: tuple[int, int], dilation: tuple[int, int]) -> te.Tensor:
    """int32 NHWC accumulator of an int8 input padded (top, left, bottom, right) with its
    zero point `zp[0]` where a tap reads outside, and `(KH, KW, C)` int8 weights."""
    n, h, wd, c = (int(v) for v in x.shape)
    kh, kw, _ = (int(v) for v in w.shape)
    top, left, bottom, right = pads
    sh, sw = stride
    dh, dw = dilation
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")

    def tap(b, i, j, k):
        y, xx = i * sh + ry * dh - top, j * sw + rx * dw - left
        inside = tirx.all(*(tirx.likely(t) for t in (y >= 0, y < h, xx >= 0, xx < wd)))
        v = tirx.if_then_else(inside, x[b, y, xx, k], tirx.Cast("int8", zp[0]))
        return tirx.Cast("int32", tirx.Cast("int16", v) * tirx.Cast("int16", w[ry, rx, k]))
    return te.compute((n, oh, ow, c), lambda b, i, j, k: te.sum(tap(b, i, j, k), axis=[ry, rx]),
                      name=BLOCK)

