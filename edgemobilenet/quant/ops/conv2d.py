"""conv2d (any groups; depthwise is groups == C == OC) and fully_connected (OPS.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.mcu import (OUT, KernelContext, McuKernel, Window, const, inp,
                                          struct)
from edgemobilenet.quant.ops.registry import Activation, OpSpec, register

WEIGHTED_PARAMS = ("weight", "bias", "multiplier", "shift")


@dataclass(frozen=True)
class Conv2dAttrs(Activation):
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


def reference(node, a: Conv2dAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0]
    w = node.params["weight"]
    oc, kh, kw, cg = w.shape
    h, wd, c = x.shape
    oh, ow = nu.out_hw((h, wd), (kh, kw), a.stride, a.padding, a.dilation)
    xc = nu.pad(x.astype(np.int32) - int(in_t[0].zero_point), a.padding, 0)  # pads -> 0
    if a.groups == c == oc and cg == 1:
        acc = nu.depthwise(xc, w, a.stride, a.dilation, oh, ow)
    else:
        acc = np.empty((oh, ow, oc), np.int32 if kh * kw * cg <= nu.MAX_INT32_TERMS else np.int64)
        og = oc // a.groups
        sh, sw = a.stride
        for g in range(a.groups):
            xg = xc[:, :, g * cg:(g + 1) * cg]
            wg = w[g * og:(g + 1) * og].reshape(og, -1)
            if kh == kw == 1 and a.padding == (0, 0, 0, 0):
                cols = xg[: (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]
            else:
                cols = nu.windows(xg, kh, kw, a.stride, a.dilation, oh, ow)
            acc[:, :, g * og:(g + 1) * og] = nu.matmul(cols.reshape(oh * ow, -1), wg.T
                                                       ).reshape(oh, ow, og)
    acc = acc + node.params["bias"].astype(np.int64)
    p = node.params
    return nu.requant(acc, p["multiplier"], p["shift"], out_t.zero_point, a.act_min,
                      a.act_max)[None]


def check_weighted(g, node, a) -> str | None:
    """bias/multiplier/shift per output channel; output channels match the weight."""
    w = node.params["weight"]
    oc = w.shape[0]
    for p in ("bias", "multiplier", "shift"):
        if node.params[p].shape != (oc,):
            return f"'{p}' has shape {node.params[p].shape}, expected ({oc},)"
    out = g.tensors[node.outputs[0]]
    if out.shape[-1] != oc:
        return f"output has {out.shape[-1]} channels, weight has {oc}"
    return None


def check(g, node, a: Conv2dAttrs) -> str | None:
    w = node.params["weight"]
    x = g.tensors[node.inputs[0]]
    if w.ndim != 4 or len(x.shape) != 4:
        return "expects an NHWC input and an (OC, KH, KW, C/groups) weight"
    if a.groups < 1 or x.shape[3] != w.shape[3] * a.groups or w.shape[0] % a.groups:
        return (f"input has {x.shape[3]} channels, weight {w.shape} with groups {a.groups} "
                f"does not divide it")
    return check_weighted(g, node, a)


def macs(g, node) -> int:
    w = node.params["weight"]
    return nu.numel(g.tensors[node.outputs[0]].shape) * nu.numel(w.shape[1:])


CONV_FIELDS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h",
               "stride_w", "pad_top", "pad_left", "dil_h", "dil_w", "groups", "in_zp",
               "out_zp", "act_min", "act_max", "compact")


def _conv_call(ctx: KernelContext):
    a: Conv2dAttrs = ctx.attrs
    w = ctx.node.params["weight"]
    prm = [*ctx.hwc(0), *ctx.hwc(), int(w.shape[1]), int(w.shape[2]), *a.stride,
           *a.padding[:2], *a.dilation, a.groups, ctx.zp_in(), ctx.zp_out, a.act_min,
           a.act_max, int(ctx.compact)]
    p = ctx.node.params
    return [{"p": prm, "in": 0, "weight": ctx.pack(w), "bias": p["bias"],
             "mult": p["multiplier"], "shift": p["shift"]}]


def _conv_window(values, win: Window):
    p = dict(zip(CONV_FIELDS, values["p"]))
    (p["in_h"], p["in_w"]), (p["out_h"], p["out_w"]) = win.in_hw, win.out_hw
    p["pad_top"], p["pad_left"] = win.pad
    return {**values, "p": [p[f] for f in CONV_FIELDS]}


WEIGHT_ARGS = (const("weight", "int8_t"), const("bias", "int32_t"), const("mult", "int32_t"),
               const("shift", "int32_t"))

SPEC = register(OpSpec(
    "conv2d", 1, WEIGHTED_PARAMS, Conv2dAttrs, reference, check, macs,
    McuKernel("emb_conv2d_s8",
              (struct("p", "emb_conv_params", CONV_FIELDS), inp("in"), *WEIGHT_ARGS, OUT),
              _conv_call, _conv_window)))
