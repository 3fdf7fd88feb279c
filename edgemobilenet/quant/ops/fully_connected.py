"""fully_connected (OPS.md): (1, C) x (OC, C) -> (1, OC), requantized like conv2d."""
from __future__ import annotations

import numpy as np

from edgemobilenet.quant.fixedpoint import saturate_int8
from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.conv2d import WEIGHT_ARGS, WEIGHTED_PARAMS, check_weighted
from edgemobilenet.quant.ops.mcu import OUT, KernelContext, McuKernel, inp, ints
from edgemobilenet.quant.ops.registry import Activation, OpSpec, register


def reference(node, a: Activation, inputs, in_t, out_t) -> np.ndarray:
    p = node.params
    x = inputs[0].astype(np.int32) - int(in_t[0].zero_point)
    acc = nu.matmul(x, p["weight"].T) + p["bias"].astype(np.int64)
    return nu.requant(acc, p["multiplier"], p["shift"], out_t.zero_point, a.act_min, a.act_max)


def check(g, node, a) -> str | None:
    w = node.params["weight"]
    x = g.tensors[node.inputs[0]]
    if w.ndim != 2 or len(x.shape) != 2 or x.shape[1] != w.shape[1]:
        return f"input {x.shape} does not match weight {w.shape} (expects (1, C) and (OC, C))"
    return check_weighted(g, node, a)


def macs(g, node) -> int:
    return int(node.params["weight"].size)


def _call(ctx: KernelContext):
    a, p = ctx.attrs, ctx.node.params
    w = p["weight"]
    return [{"in_c": w.shape[1], "out_c": w.shape[0], "in": 0, "weight": ctx.pack(w),
             "bias": p["bias"], "mult": p["multiplier"], "shift": p["shift"],
             "in_zp": ctx.zp_in(), "out_zp": ctx.zp_out, "act_min": a.act_min,
             "act_max": a.act_max}]


SPEC = register(OpSpec(
    "fully_connected", 1, WEIGHTED_PARAMS, Activation, reference, check, macs,
    McuKernel("emb_fully_connected_s8",
              (*ints("in_c", "out_c"), inp("in"), *WEIGHT_ARGS,
               *ints("in_zp", "out_zp", "act_min", "act_max"), OUT), _call)))


def single_round(acc: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(acc * m) / 2^(31 - shift), rounded once, half up (OPS.md)."""
    k = 31 - shift.astype(np.int64)
    return (acc.astype(np.int64) * m.astype(np.int64) + (np.int64(1) << (k - 1))) >> k


def reference_single_round(node, a: Activation, inputs, in_t, out_t) -> np.ndarray:
    p = node.params
    x = inputs[0].astype(np.int32) - int(in_t[0].zero_point)
    acc = nu.matmul(x, p["weight"].T) + p["bias"].astype(np.int64)
    y = single_round(acc, p["multiplier"], p["shift"]) + out_t.zero_point
    return saturate_int8(y, a.act_min, a.act_max)


SINGLE_ROUND = register(OpSpec(
    "fully_connected_single_round", 1, WEIGHTED_PARAMS, Activation, reference_single_round,
    check, macs,
    McuKernel("emb_fully_connected_sr_s8",
              (*ints("in_c", "out_c"), inp("in"), *WEIGHT_ARGS,
               *ints("in_zp", "out_zp", "act_min", "act_max"), OUT), _call)))
