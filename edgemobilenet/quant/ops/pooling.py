"""max_pool (OPS.md): TFLite's MAX_POOL_2D."""
from __future__ import annotations

import numpy as np

from edgemobilenet.quant.fixedpoint import saturate_int8
from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.avg_pool import AvgPoolAttrs
from edgemobilenet.quant.ops.avg_pool import check as window_check
from edgemobilenet.quant.ops.avg_pool import window_kernel
from edgemobilenet.quant.ops.registry import OpSpec, register


def max_pool_reference(node, a: AvgPoolAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0]
    h, w, _ = x.shape
    kh, kw = a.kernel
    oh, ow = nu.out_hw((h, w), a.kernel, a.stride, a.padding)
    xp = nu.pad(x, a.padding, -128)   # padded positions never win (every window has one real)
    v = nu.windows(xp, kh, kw, a.stride, (1, 1), oh, ow)   # (OH, OW, KH, KW, C)
    return saturate_int8(v.max(axis=(2, 3)), a.act_min, a.act_max)[None]


MAX_POOL = register(OpSpec("max_pool", 1, (), AvgPoolAttrs, max_pool_reference, window_check,
                           mcu=window_kernel("emb_max_pool_s8")))
