"""TE kernel of a depthwise convolution (channel multiplier 1), channels innermost.

Weights are `(KH, KW, C)` int8 so one kernel tap is a contiguous channel vector: the
default schedule (`default_schedules`) vectorises the channel loop. The input is padded
with its zero point (`te_fixedpoint.pad_zp`) and `-zp * sum(w)` is folded into the bias.
Products of two int8 values fit int16 (|p| <= 2^14), so they are int16 multiplies widened
into the int32 sum (`smull`/`smlal` on NEON, `vpmullw` on x86).
"""
from __future__ import annotations

import numpy as np
from tvm import te, tirx

BLOCK = "depthwise"


def weights(w: np.ndarray) -> np.ndarray:
    """QGraph OHWI `(C, KH, KW, 1)` -> `(KH, KW, C)`."""
    return np.ascontiguousarray(w[:, :, :, 0].transpose(1, 2, 0))


def depthwise(x: te.Tensor, w: te.Tensor, stride: tuple[int, int],
              dilation: tuple[int, int]) -> te.Tensor:
    """int32 NHWC accumulator of a padded int8 input and `(KH, KW, C)` int8 weights."""
    n, h, wd, c = (int(v) for v in x.shape)
    kh, kw, _ = (int(v) for v in w.shape)
    sh, sw = stride
    dh, dw = dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (wd - dw * (kw - 1) - 1) // sw + 1
    ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    return te.compute(
        (n, oh, ow, c),
        lambda b, i, j, k: te.sum(
            tirx.Cast("int32", tirx.Cast("int16", x[b, i * sh + ry * dh, j * sw + rx * dw, k])
                      * tirx.Cast("int16", w[ry, rx, k])), axis=[ry, rx]),
        name=BLOCK)
