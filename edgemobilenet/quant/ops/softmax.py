"""softmax (OPS.md) over the last axis of a (1, C) tensor: exp table, output scale 1/256."""
from __future__ import annotations

import numpy as np

from edgemobilenet.quant.fixedpoint import saturate_int8
from edgemobilenet.quant.ops.mcu import OUT, McuKernel, const, inp, ints
from edgemobilenet.quant.ops.registry import NoAttrs, OpSpec, register

OUT_SCALE, OUT_ZP = 1.0 / 256.0, -128


def reference(node, a, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0].astype(np.int32)
    e = node.params["exp_table"].astype(np.int64)[x.max(axis=-1, keepdims=True) - x]
    s = e.sum(axis=-1, keepdims=True)
    return saturate_int8((e * 256 + s // 2) // s - 128)


def check(g, node, a) -> str | None:
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    if node.params["exp_table"].shape != (256,):
        return "exp_table must have 256 entries"
    if tuple(x.shape) != tuple(y.shape):
        return "output must have the input's shape"
    if not (np.isclose(y.scale, OUT_SCALE) and y.zero_point == OUT_ZP):
        return (f"output must have scale 1/256 and zero point -128, has "
                f"({y.scale:g}, {y.zero_point})")
    return None


SPEC = register(OpSpec(
    "softmax", 1, ("exp_table",), NoAttrs, reference, check,
    mcu=McuKernel("emb_softmax_s8", (ints("n")[0], inp("in"), const("exp_table", "int32_t"), OUT),
                  lambda ctx: [{"n": ctx.numel(), "in": 0,
                                "exp_table": ctx.node.params["exp_table"]}])))
