"""max_pool (OPS.md): TFLite's MAX_POOL_2D."""
from __future__ import annotations

import numpy as np

from edgemobilenet.quant.fixedpoint import saturate_int8
from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.avg_pool import AvgPoolAttrs
from edgemobilenet.quant.ops.avg_pool import check as window_check
from edgemobilenet.quant.ops.mcu import OUT, KernelContext, McuKernel, inp, ints
from edgemobilenet.quant.ops.registry import OpSpec, register


def max_pool_reference(node, a: AvgPoolAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0]
    h, w, _ = x.shape
    kh, kw = a.kernel
    oh = nu.out_size(h, a.padding[0], a.padding[2], kh, a.stride[0], 1)
    ow = nu.out_size(w, a.padding[1], a.padding[3], kw, a.stride[1], 1)
    xp = nu.pad(x, a.padding, -128)   # padded positions never win (every window has one real)
    v = nu.windows(xp, kh, kw, a.stride, (1, 1), oh, ow)   # (OH, OW, KH, KW, C)
    return saturate_int8(v.max(axis=(2, 3)), a.act_min, a.act_max)[None]


def _max_pool_call(ctx: KernelContext):
    a: AvgPoolAttrs = ctx.attrs
    (h, w, c), (oh, ow, _) = ctx.hwc(0), ctx.hwc()
    return [{"in_h": h, "in_w": w, "c": c, "out_h": oh, "out_w": ow, "k_h": a.kernel[0],
             "k_w": a.kernel[1], "stride_h": a.stride[0], "stride_w": a.stride[1],
             "pad_top": a.padding[0], "pad_left": a.padding[1], "act_min": a.act_min,
             "act_max": a.act_max, "in": 0}]


MAX_POOL = register(OpSpec(
    "max_pool", 1, (), AvgPoolAttrs, max_pool_reference, window_check,
    mcu=McuKernel("emb_max_pool_s8",
                  (*ints("in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h",
                         "stride_w", "pad_top", "pad_left", "act_min", "act_max"),
                   inp("in"), OUT), _max_pool_call)))
