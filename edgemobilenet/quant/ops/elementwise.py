"""add, mul and lut (OPS.md): element-wise ops."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.fixedpoint import mbqm, saturate_int8
from edgemobilenet.quant.ops.mcu import (OUT, KernelContext, McuKernel, const,
                                          elementwise_window, inp, ints)
from edgemobilenet.quant.ops.registry import Activation, OpSpec, register


@dataclass(frozen=True)
class AddAttrs(Activation):
    left_shift: int = 20


# |a1 + b1| <= 2 * 255 * 2^(left_shift + input shift) must fit int32 (OPS.md, add)
ADD_MAX_SHIFT = 22


def add_reference(node, a: AddAttrs, inputs, in_t, out_t) -> np.ndarray:
    m, sh = node.params["multiplier"], node.params["shift"]
    a1 = mbqm((inputs[0].astype(np.int64) - in_t[0].zero_point) << a.left_shift, m[0], sh[0])
    b1 = mbqm((inputs[1].astype(np.int64) - in_t[1].zero_point) << a.left_shift, m[1], sh[1])
    return saturate_int8(mbqm(a1 + b1, m[2], sh[2]) + out_t.zero_point, a.act_min, a.act_max)


def _rescale_shape(node, n: int) -> str | None:
    for p in ("multiplier", "shift"):
        if node.params[p].shape != (n,):
            return f"'{p}' has shape {node.params[p].shape}, expected ({n},)"
    return None


def add_check(g, node, a: AddAttrs) -> str | None:
    shapes = [tuple(g.tensors[t].shape) for t in node.inputs + node.outputs]
    if len(set(shapes)) != 1:
        return f"inputs and output must have one shape, have {shapes}"
    if not 0 <= a.left_shift <= ADD_MAX_SHIFT:
        return f"left_shift {a.left_shift} is outside [0, {ADD_MAX_SHIFT}]"
    err = _rescale_shape(node, 3)
    if err is None and a.left_shift + max(int(node.params["shift"][:2].max()), 0) > ADD_MAX_SHIFT:
        return (f"left_shift {a.left_shift} plus input shift {int(node.params['shift'][:2].max())}"
                f" exceeds {ADD_MAX_SHIFT}: the rescaled inputs' sum would overflow int32")
    return err


def _add_call(ctx: KernelContext):
    a: AddAttrs = ctx.attrs
    p = ctx.node.params
    return [{"size": ctx.numel(), "a": 0, "b": 1, "a_zp": ctx.zp_in(0), "b_zp": ctx.zp_in(1),
             "out_zp": ctx.zp_out, "left_shift": a.left_shift, "m": p["multiplier"],
             "s": p["shift"], "act_min": a.act_min, "act_max": a.act_max}]


ADD = register(OpSpec(
    "add", 2, ("multiplier", "shift"), AddAttrs, add_reference, add_check,
    mcu=McuKernel("emb_add_s8",
                  (ints("size")[0], inp("a"), inp("b"),
                   *ints("a_zp", "b_zp", "out_zp", "left_shift"), const("m", "int32_t"),
                   const("s", "int32_t"), *ints("act_min", "act_max"), OUT), _add_call,
                  elementwise_window)))


def mul_reference(node, a: Activation, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0].astype(np.int64) - in_t[0].zero_point
    b = inputs[1].astype(np.int64) - in_t[1].zero_point
    y = mbqm(x * b, node.params["multiplier"][0], node.params["shift"][0]) + out_t.zero_point
    return saturate_int8(y, a.act_min, a.act_max)


def mul_check(g, node, a) -> str | None:
    sa, sb, sy = (tuple(g.tensors[t].shape) for t in node.inputs + node.outputs)
    try:
        if np.broadcast_shapes(sa, sb) != sa:
            return f"input b {sb} does not broadcast to input a {sa}"
    except ValueError:
        return f"input b {sb} does not broadcast to input a {sa}"
    if sy != sa:
        return f"output {sy} must have input a's shape {sa}"
    return _rescale_shape(node, 1)


def _mul_call(ctx: KernelContext):
    a = ctx.attrs
    sa, sb = ctx.in_tensors[0].shape, ctx.in_tensors[1].shape
    c = int(sa[-1])
    if ctx.numel(1) == ctx.numel(0):
        bcast = 0
    elif ctx.numel(1) == c and sb[-1] == c:
        bcast = 1
    else:
        raise EdgembError(f"layer '{ctx.node.name}' (mul): broadcast of {tuple(sb)} onto "
                          f"{tuple(sa)} is not supported on MCU")
    p = ctx.node.params
    return [{"hw": ctx.numel(0) // c, "c": c, "b_broadcast": bcast, "a": 0, "b": 1,
             "a_zp": ctx.zp_in(0), "b_zp": ctx.zp_in(1), "out_zp": ctx.zp_out,
             "m": int(p["multiplier"][0]), "s": int(p["shift"][0]), "act_min": a.act_min,
             "act_max": a.act_max}]


MUL = register(OpSpec(
    "mul", 2, ("multiplier", "shift"), Activation, mul_reference, mul_check,
    mcu=McuKernel("emb_mul_s8",
                  (*ints("hw", "c", "b_broadcast"), inp("a"), inp("b"),
                   *ints("a_zp", "b_zp", "out_zp", "m", "s", "act_min", "act_max"), OUT),
                  _mul_call)))


@dataclass(frozen=True)
class LutAttrs:
    fn: str = ""   # the function the table was computed from (information only)


def lut_reference(node, a: LutAttrs, inputs, in_t, out_t) -> np.ndarray:
    return node.params["table"][inputs[0].astype(np.int32) + 128]


def lut_check(g, node, a) -> str | None:
    if node.params["table"].shape != (256,):
        return "table must have 256 entries"
    if g.tensors[node.inputs[0]].shape != g.tensors[node.outputs[0]].shape:
        return "output must have the input's shape"
    return None


LUT = register(OpSpec(
    "lut", 1, ("table",), LutAttrs, lut_reference, lut_check,
    mcu=McuKernel("emb_lut_s8", (ints("size")[0], inp("in"), const("table", "int8_t"), OUT),
                  lambda ctx: [{"size": ctx.numel(), "in": 0,
                                "table": ctx.node.params["table"]}],
                  elementwise_window)))
