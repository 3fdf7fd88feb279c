"""avg_pool (OPS.md): window average with round-half-away division, same scale in and out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.quant.fixedpoint import round_div_away, saturate_int8
from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.mcu import OUT, KernelContext, McuKernel, inp, ints
from edgemobilenet.quant.ops.registry import Activation, OpSpec, register


@dataclass(frozen=True)
class AvgPoolAttrs(Activation):
    kernel: tuple[int, int] = (0, 0)   # required: validate rejects the default
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)


def reference(node, a: AvgPoolAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0]
    h, w, c = x.shape
    kh, kw = a.kernel
    oh, ow = nu.out_hw((h, w), a.kernel, a.stride, a.padding)
    if (kh, kw) == (h, w) and a.padding == (0, 0, 0, 0):
        s = x.astype(np.int32).sum(axis=(0, 1), keepdims=True)
        count: np.ndarray | int = h * w
    else:
        xp = nu.pad(x.astype(np.int32), a.padding, 0)
        ones = nu.pad(np.ones((h, w, 1), dtype=np.int32), a.padding, 0)
        wt = np.ones((1, kh, kw, 1), dtype=np.int8)
        s = nu.depthwise(xp, np.broadcast_to(wt, (c, kh, kw, 1)), a.stride, (1, 1), oh, ow)
        count = nu.depthwise(ones, wt, a.stride, (1, 1), oh, ow)
    return saturate_int8(round_div_away(s, count), a.act_min, a.act_max)[None]


def same_quantization(g, node) -> str | None:
    """OPS.md: the output keeps the input's scale and zero point."""
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        return (f"input and output must share scale and zero point, have "
                f"({x.scale:g}, {x.zero_point}) and ({y.scale:g}, {y.zero_point})")
    return None


def check(g, node, a: AvgPoolAttrs) -> str | None:
    if len(a.kernel) != 2 or min(a.kernel) < 1:
        return f"attribute 'kernel' must be two positive ints, is {list(a.kernel)}"
    if len(g.tensors[node.inputs[0]].shape) != 4:
        return "expects an NHWC input"
    return same_quantization(g, node)


def window_call(ctx: KernelContext):
    """Kernel arguments of a pooling window op (avg_pool, max_pool share them)."""
    a: AvgPoolAttrs = ctx.attrs
    (h, w, c), (oh, ow, _) = ctx.hwc(0), ctx.hwc()
    return [{"in_h": h, "in_w": w, "c": c, "out_h": oh, "out_w": ow, "k_h": a.kernel[0],
             "k_w": a.kernel[1], "stride_h": a.stride[0], "stride_w": a.stride[1],
             "pad_top": a.padding[0], "pad_left": a.padding[1], "act_min": a.act_min,
             "act_max": a.act_max, "in": 0}]


def window_kernel(symbol: str) -> McuKernel:
    """The MCU kernel descriptor of a pooling window op."""
    return McuKernel(symbol, (*ints("in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w",
                                    "stride_h", "stride_w", "pad_top", "pad_left", "act_min",
                                    "act_max"), inp("in"), OUT), window_call)


SPEC = register(OpSpec("avg_pool", 1, (), AvgPoolAttrs, reference, check,
                       mcu=window_kernel("emb_avg_pool_s8")))
