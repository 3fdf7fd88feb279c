"""TE kernels for convolutions and dense layers in a `layouts.Layout` (packed weights).

Index forms follow TVM's own VNNI/sdot kernels (`w[oc // b, ..., ic // 4, oc % b, ic % 4]`)
so MetaSchedule's tensorization rules recognise the reduction as the intrinsic. The
accumulator has the padded output channel count; the requantize stage after it reads only
the real channels.
"""
from __future__ import annotations

from tvm import te, tirx

from edgemobilenet.backends.tvm.layouts import K_BLOCK, Layout


def prepare_input(x: te.Tensor, pads: tuple[int, int, int, int], channels: int,
                  zp: te.Tensor, lay: Layout) -> te.Tensor:
    """Pad NHWC int8 `x` spatially (with the zero point `zp[0]`) and in channels to
    `channels`, add the layout's activation offset, cast to its dtype; one stage."""
    top, left, bottom, right = pads
    n, h, w, c = (int(v) for v in x.shape)

    def f(b, i, j, k):
        inside = tirx.all(i >= top, i < h + top, j >= left, j < w + left, k < c)
        v = tirx.if_then_else(inside, tirx.Cast("int32", x[b, i - top, j - left,
                                                          tirx.Min(k, tirx.const(c - 1, "int32"))]),
                              zp[0])
        return tirx.Cast(lay.act_dtype, v + lay.act_offset)
    return te.compute((n, h + top + bottom, w + left + right, channels), f, name="prep")


def prepare_columns(x: te.Tensor, pads: tuple[int, int, int, int], kw: int, stride: int,
                    dilation: int, zp: te.Tensor, lay: Layout) -> te.Tensor:
    """`prepare_input` of a convolution with one block of input channels (the stem's 3 or
    4), its `kw` kernel columns gathered per output column: `(N, Hp, OW, kw * 4)` with
    `[b, i, j, c * 4 + k] = prepared[b, i, j * stride + c * dilation, k]`, so the convolution
    is `kh x 1` (`stride` 1 across) over `kw` channel blocks with the same packed weights
    reshaped to `(OCp/b, KH, 1, KW, b, 4)` (`columns_weights`)."""
    xp = prepare_input(x, pads, K_BLOCK, zp, lay)
    n, hp, wp, _ = (int(v) for v in xp.shape)
    ow = (wp - dilation * (kw - 1) - 1) // stride + 1
    return te.compute((n, hp, ow, kw * K_BLOCK),
                      lambda b, i, j, r: xp[b, i, j * stride + r // K_BLOCK * dilation,
                                            r % K_BLOCK], name="prep")


def columns_weights(w_packed):
    """Packed `(OCp/b, KH, KW, 1, b, 4)` weights as `(OCp/b, KH, 1, KW, b, 4)` (same bytes)."""
    ocb, kh, kw, _, b, k = w_packed.shape
    return w_packed.reshape(ocb, kh, 1, kw, b, k)


def conv2d(x: te.Tensor, w: te.Tensor, stride: tuple[int, int],
           dilation: tuple[int, int]) -> te.Tensor:
    """int32 NHWC accumulator of a prepared input and packed weights (groups == 1)."""
    n, h, wd, cp = (int(v) for v in x.shape)
    ocb, kh, kw, _, b, _ = (int(v) for v in w.shape)
    sh, sw = stride
    dh, dw = dilation
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (wd - dw * (kw - 1) - 1) // sw + 1
    ry, rx, rc = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx"), \
        te.reduce_axis((0, cp), "rc")
    return te.compute(
        (n, oh, ow, ocb * b),
        lambda bn, i, j, oc: te.sum(
            tirx.Cast("int32", x[bn, i * sh + ry * dh, j * sw + rx * dw, rc])
            * tirx.Cast("int32", w[oc // b, ry, rx, rc // K_BLOCK, oc % b, rc % K_BLOCK]),
            axis=[ry, rx, rc]),
        name="conv_packed")


def dense(x: te.Tensor, w: te.Tensor) -> te.Tensor:
    """int32 `(1, OCp)` accumulator of a prepared `(1, Cp)` input and packed weights."""
    ocb, _, b, _ = (int(v) for v in w.shape)
    k = te.reduce_axis((0, int(x.shape[1])), "k")
    return te.compute(
        (int(x.shape[0]), ocb * b),
        lambda i, j: te.sum(tirx.Cast("int32", x[i, k])
                            * tirx.Cast("int32", w[j // b, k // K_BLOCK, j % b, k % K_BLOCK]),
                            axis=k),
        name="dense_packed")
