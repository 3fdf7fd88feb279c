"""reshape, concat and resize_bilinear (OPS.md): ops that move data without weights."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.fixedpoint import mbqm, saturate_int8
from edgemobilenet.quant.ops import numeric as nu
from edgemobilenet.quant.ops.avg_pool import same_quantization
from edgemobilenet.quant.ops.mcu import OUT, KernelContext, McuKernel, inp, ints
from edgemobilenet.quant.ops.registry import OpSpec, register


@dataclass(frozen=True)
class ReshapeAttrs:
    shape: tuple[int, ...] = ()


def reshape_reference(node, a, inputs, in_t, out_t) -> np.ndarray:
    return inputs[0].reshape(out_t.shape)


def reshape_check(g, node, a: ReshapeAttrs) -> str | None:
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    if nu.numel(x.shape) != nu.numel(y.shape):
        return f"{tuple(x.shape)} and {tuple(y.shape)} differ in size"
    if a.shape and tuple(a.shape) != tuple(y.shape):
        return f"attribute 'shape' {list(a.shape)} is not the output's {tuple(y.shape)}"
    return same_quantization(g, node)


RESHAPE = register(OpSpec("reshape", 1, (), ReshapeAttrs, reshape_reference, reshape_check,
                          aliases_input=True))


@dataclass(frozen=True)
class ConcatAttrs:
    axis: int = 3
    requant: tuple[int, ...] = ()   # per input; empty: every input is requantized

    def requantizes(self, i: int) -> bool:
        return bool(self.requant[i]) if self.requant else True


def concat_reference(node, a: ConcatAttrs, inputs, in_t, out_t) -> np.ndarray:
    m, sh = node.params["multiplier"], node.params["shift"]
    parts = []
    for i, (x, t) in enumerate(zip(inputs, in_t)):
        if a.requantizes(i):
            x = saturate_int8(mbqm(x.astype(np.int64) - t.zero_point, m[i], sh[i])
                              + out_t.zero_point)
        parts.append(x)
    return np.concatenate(parts, axis=a.axis)


def concat_check(g, node, a: ConcatAttrs) -> str | None:
    n = len(node.inputs)
    shapes = [tuple(g.tensors[t].shape) for t in node.inputs]
    y = g.tensors[node.outputs[0]]
    rank = len(y.shape)
    if not -rank <= a.axis < rank or any(len(s) != rank for s in shapes):
        return f"axis {a.axis} does not fit inputs {shapes} and output {tuple(y.shape)}"
    ax = a.axis % rank
    want = list(y.shape)
    want[ax] = sum(s[ax] for s in shapes)
    if any(s[:ax] + s[ax + 1:] != tuple(y.shape[:ax] + y.shape[ax + 1:]) for s in shapes) \
            or tuple(want) != tuple(y.shape):
        return f"inputs {shapes} do not concatenate to {tuple(y.shape)} along axis {a.axis}"
    for p in ("multiplier", "shift"):
        if node.params[p].shape != (n,):
            return f"'{p}' has shape {node.params[p].shape}, expected ({n},)"
    if a.requant and len(a.requant) != n:
        return f"'requant' has {len(a.requant)} entries for {n} inputs"
    for i, t in enumerate(node.inputs):
        x = g.tensors[t]
        if not a.requantizes(i) and (x.scale, x.zero_point) != (y.scale, y.zero_point):
            return f"input {i} is copied (requant 0) but its scale or zero point differs"
    return None


def _concat_calls(ctx: KernelContext):
    a: ConcatAttrs = ctx.attrs
    shape = ctx.out_tensor.shape
    if a.axis % len(shape) != len(shape) - 1:
        raise EdgembError(f"layer '{ctx.node.name}' (concat): concat along axis {a.axis} is "
                          f"not supported on MCU (channels only)")
    p = ctx.node.params
    calls, off = [], 0
    for i, t in enumerate(ctx.in_tensors):
        c = int(t.shape[-1])
        calls.append({"hw": nu.numel(shape[:-1]), "in_c": c, "out_c": int(shape[-1]),
                      "c_offset": off, "in": i, "requant": int(a.requantizes(i)),
                      "in_zp": ctx.zp_in(i), "out_zp": ctx.zp_out,
                      "m": int(p["multiplier"][i]), "s": int(p["shift"][i])})
        off += c
    return calls


CONCAT = register(OpSpec(
    "concat", -1, ("multiplier", "shift"), ConcatAttrs, concat_reference, concat_check,
    mcu=McuKernel("emb_concat_s8",
                  (*ints("hw", "in_c", "out_c", "c_offset"), inp("in"),
                   *ints("requant", "in_zp", "out_zp", "m", "s"), OUT), _concat_calls)))


@dataclass(frozen=True)
class ResizeAttrs:
    size: tuple[int, int] = (0, 0)   # required: validate rejects the default


def src_coords(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q10 half-pixel source coordinates: (i0, i1, frac) per output index."""
    o = np.arange(n_out, dtype=np.int64)
    src = np.maximum(0, ((2 * o + 1) * n_in * 1024) // (2 * n_out) - 512)
    i0 = src >> 10
    return i0, np.minimum(i0 + 1, n_in - 1), src & 1023


def resize_reference(node, a: ResizeAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0].astype(np.int32) - in_t[0].zero_point
    h, w, _ = x.shape
    oh, ow = a.size
    y0, y1, fy = (v.astype(np.int32) for v in src_coords(oh, h))
    x0, x1, fx = (v.astype(np.int32) for v in src_coords(ow, w))
    fy, fx = fy[:, None, None], fx[None, :, None]
    top, bot = x[y0], x[y1]
    v = (top[:, x0] * ((1024 - fy) * (1024 - fx)) + top[:, x1] * ((1024 - fy) * fx)
         + bot[:, x0] * (fy * (1024 - fx)) + bot[:, x1] * (fy * fx))
    return saturate_int8(((v + (1 << 19)) >> 20) + out_t.zero_point)[None]


def resize_check(g, node, a: ResizeAttrs) -> str | None:
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    if len(a.size) != 2 or min(a.size) < 1:
        return f"attribute 'size' must be two positive ints, is {list(a.size)}"
    if len(x.shape) != 4 or tuple(y.shape) != (1, *a.size, x.shape[3]):
        return f"output {tuple(y.shape)} is not (1, {a.size[0]}, {a.size[1]}, C) of {tuple(x.shape)}"
    return same_quantization(g, node)


def _resize_call(ctx: KernelContext):
    (h, w, c), (oh, ow, _) = ctx.hwc(0), ctx.hwc()
    # one zero point: validate guarantees input and output share it (OPS.md)
    return [{"in_h": h, "in_w": w, "c": c, "out_h": oh, "out_w": ow, "zp": ctx.zp_in(),
             "in": 0}]


RESIZE = register(OpSpec(
    "resize_bilinear", 1, (), ResizeAttrs, resize_reference, resize_check,
    mcu=McuKernel("emb_resize_bilinear_s8",
                  (*ints("in_h", "in_w", "c", "out_h", "out_w", "zp"), inp("in"), OUT),
                  _resize_call)))
