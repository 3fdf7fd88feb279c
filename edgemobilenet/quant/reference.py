"""The numpy reference executor: the oracle every backend must equal bit for bit.

Integer-only: int8 activations, int32 accumulation (int64 where an intermediate needs it),
the fixed-point helpers of `fixedpoint.py`, exactly as specified in `OPS.md`. No floats in
the inference path: of each tensor only the zero point is read; multipliers, shifts and
tables were computed offline by the converter.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.fixedpoint import mbqm, round_div_away, saturate_int8
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor

Arrays = list[np.ndarray]
Tensors = list[QTensor]
OpImpl = Callable[[QNode, Arrays, Tensors, QTensor], np.ndarray]

# |x - zp| <= 255 and |w| <= 128: int32 accumulation is exact up to this many terms
_MAX_INT32_TERMS = ((1 << 31) - 1) // (255 * 128)


def _requant(acc: np.ndarray, node: QNode, zp_y: int) -> np.ndarray:
    """Per-output-channel MBQM + zero point + activation clamp (last axis is channels)."""
    y = mbqm(acc, node.params["multiplier"], node.params["shift"]) + zp_y
    return saturate_int8(y, node.attrs.get("act_min", -128), node.attrs.get("act_max", 127))


def _pad(x: np.ndarray, padding: list[int], value: int) -> np.ndarray:
    """Pad a (H, W, C) array as [top, left, bottom, right]."""
    t, l, b, r = padding
    if not (t or l or b or r):
        return x
    return np.pad(x, ((t, b), (l, r), (0, 0)), constant_values=value)


def _out_size(n: int, lo: int, hi: int, k: int, s: int, d: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _windows(xp: np.ndarray, kh: int, kw: int, stride: list[int], dilation: list[int],
              oh: int, ow: int) -> np.ndarray:
    """(OH, OW, KH, KW, C) view of the padded (H, W, C) input."""
    sh, sw = stride
    dh, dw = dilation
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(0, 1))
    v = v[: (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, :, ::dh, ::dw]
    return v.transpose(0, 1, 3, 4, 2)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer (P, K) @ (K, N); int32 when no sum can overflow it."""
    dt = np.int32 if a.shape[1] <= _MAX_INT32_TERMS else np.int64
    return a.astype(dt, copy=False) @ b.astype(dt, copy=False)


def _depthwise(xc: np.ndarray, w: np.ndarray, stride: list[int], dilation: list[int],
               oh: int, ow: int) -> np.ndarray:
    """Per-tap accumulation over shifted views: xc (Hp, Wp, C) int32, w (C, KH, KW, 1)."""
    sh, sw = stride
    dh, dw = dilation
    _, kh, kw, _ = w.shape
    acc = np.zeros((oh, ow, xc.shape[2]), dtype=np.int32)
    wt = w[:, :, :, 0].astype(np.int32)
    for i in range(kh):
        for j in range(kw):
            tap = xc[i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
            acc += tap * wt[:, i, j]
    return acc


def conv2d(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    x = inputs[0][0]
    w = node.params["weight"]
    oc, kh, kw, cg = w.shape
    a = node.attrs
    stride = list(a.get("stride", [1, 1]))
    padding = list(a.get("padding", [0, 0, 0, 0]))
    dilation = list(a.get("dilation", [1, 1]))
    groups = int(a.get("groups", 1))
    h, wd, c = x.shape
    oh = _out_size(h, padding[0], padding[2], kh, stride[0], dilation[0])
    ow = _out_size(wd, padding[1], padding[3], kw, stride[1], dilation[1])
    zp = int(in_t[0].zero_point)
    xc = _pad(x.astype(np.int32) - zp, padding, 0)  # padded positions hold zp_x -> 0
    if groups == c == oc and cg == 1:
        acc = _depthwise(xc, w, stride, dilation, oh, ow)
    else:
        acc_dtype = np.int32 if kh * kw * cg <= _MAX_INT32_TERMS else np.int64
        acc = np.empty((oh, ow, oc), dtype=acc_dtype)
        og = oc // groups
        sh, sw = stride
        for g in range(groups):
            xg = xc[:, :, g * cg:(g + 1) * cg]
            wg = w[g * og:(g + 1) * og].reshape(og, -1)
            if kh == kw == 1 and padding == [0, 0, 0, 0]:
                cols = xg[: (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]
            else:
                cols = _windows(xg, kh, kw, stride, dilation, oh, ow)
            y = _matmul(cols.reshape(oh * ow, -1), wg.T)
            acc[:, :, g * og:(g + 1) * og] = y.reshape(oh, ow, og)
    acc = acc + node.params["bias"].astype(np.int64)
    return _requant(acc, node, out_t.zero_point)[None]


def fully_connected(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    x = inputs[0].astype(np.int32) - int(in_t[0].zero_point)
    acc = _matmul(x, node.params["weight"].T) + node.params["bias"].astype(np.int64)
    return _requant(acc, node, out_t.zero_point)


def add(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    m, sh = node.params["multiplier"], node.params["shift"]
    ls = int(node.attrs.get("left_shift", 20))
    a1 = mbqm((inputs[0].astype(np.int64) - in_t[0].zero_point) << ls, m[0], sh[0])
    b1 = mbqm((inputs[1].astype(np.int64) - in_t[1].zero_point) << ls, m[1], sh[1])
    y = mbqm(a1 + b1, m[2], sh[2]) + out_t.zero_point
    return saturate_int8(y, node.attrs.get("act_min", -128), node.attrs.get("act_max", 127))


def mul(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    a = inputs[0].astype(np.int64) - in_t[0].zero_point
    b = inputs[1].astype(np.int64) - in_t[1].zero_point
    y = mbqm(a * b, node.params["multiplier"][0], node.params["shift"][0]) + out_t.zero_point
    return saturate_int8(y, node.attrs.get("act_min", -128), node.attrs.get("act_max", 127))


def lut(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    return node.params["table"][inputs[0].astype(np.int32) + 128]


def avg_pool(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    x = inputs[0][0]
    h, w, c = x.shape
    kh, kw = node.attrs["kernel"]
    stride = list(node.attrs.get("stride", [1, 1]))
    padding = list(node.attrs.get("padding", [0, 0, 0, 0]))
    oh = _out_size(h, padding[0], padding[2], kh, stride[0], 1)
    ow = _out_size(w, padding[1], padding[3], kw, stride[1], 1)
    if [kh, kw] == [h, w] and padding == [0, 0, 0, 0]:
        s = x.astype(np.int32).sum(axis=(0, 1), keepdims=True)
        count: np.ndarray | int = h * w
    else:
        xp = _pad(x.astype(np.int32), padding, 0)
        ones = _pad(np.ones((h, w, 1), dtype=np.int32), padding, 0)
        wt = np.ones((1, kh, kw, 1), dtype=np.int8)
        s = _depthwise(xp, np.broadcast_to(wt, (c, kh, kw, 1)), stride, [1, 1], oh, ow)
        count = _depthwise(ones, wt, stride, [1, 1], oh, ow)
    y = round_div_away(s, count)
    return saturate_int8(y, node.attrs.get("act_min", -128), node.attrs.get("act_max", 127))[None]


def reshape(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    return inputs[0].reshape(out_t.shape)


def concat(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    m, sh = node.params["multiplier"], node.params["shift"]
    requant = node.attrs.get("requant", [1] * len(inputs))
    parts = []
    for i, (x, t) in enumerate(zip(inputs, in_t)):
        if requant[i]:
            y = mbqm(x.astype(np.int64) - t.zero_point, m[i], sh[i]) + out_t.zero_point
            x = saturate_int8(y)
        parts.append(x)
    return np.concatenate(parts, axis=int(node.attrs.get("axis", 3)))


def _src_coords(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q10 half-pixel source coordinates: (i0, i1, frac) per output index."""
    o = np.arange(n_out, dtype=np.int64)
    src = np.maximum(0, ((2 * o + 1) * n_in * 1024) // (2 * n_out) - 512)
    i0 = src >> 10
    return i0, np.minimum(i0 + 1, n_in - 1), src & 1023


def resize_bilinear(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    x = inputs[0][0].astype(np.int32) - in_t[0].zero_point
    h, w, _ = x.shape
    oh, ow = node.attrs["size"]
    y0, y1, fy = (a.astype(np.int32) for a in _src_coords(oh, h))
    x0, x1, fx = (a.astype(np.int32) for a in _src_coords(ow, w))
    fy, fx = fy[:, None, None], fx[None, :, None]
    top, bot = x[y0], x[y1]
    v = (top[:, x0] * ((1024 - fy) * (1024 - fx)) + top[:, x1] * ((1024 - fy) * fx)
         + bot[:, x0] * (fy * (1024 - fx)) + bot[:, x1] * (fy * fx))
    return saturate_int8(((v + (1 << 19)) >> 20) + out_t.zero_point)[None]


def softmax(node: QNode, inputs: Arrays, in_t: Tensors, out_t: QTensor) -> np.ndarray:
    x = inputs[0].astype(np.int32)
    e = node.params["exp_table"].astype(np.int64)[x.max(axis=-1, keepdims=True) - x]
    s = e.sum(axis=-1, keepdims=True)
    return saturate_int8((e * 256 + s // 2) // s - 128)


OP_IMPLS: dict[str, OpImpl] = {
    "conv2d": conv2d, "fully_connected": fully_connected, "add": add, "mul": mul, "lut": lut,
    "avg_pool": avg_pool, "reshape": reshape, "concat": concat,
    "resize_bilinear": resize_bilinear, "softmax": softmax,
}


def run_node(g: QGraph, node: QNode, inputs: list[np.ndarray]) -> np.ndarray:
    """Run one node of `g` on the given input arrays (in the node's input order)."""
    impl = OP_IMPLS.get(node.op)
    if impl is None:
        raise EdgembError(f"node '{node.name}': op '{node.op}' has no reference implementation")
    out_t = g.tensors[node.outputs[0]]
    y = impl(node, inputs, [g.tensors[t] for t in node.inputs], out_t)
    if y.shape != tuple(out_t.shape):
        raise EdgembError(f"node '{node.name}' ({node.op}): produced shape {y.shape}, "
                          f"graph declares {tuple(out_t.shape)}")
    return y


def run(g: QGraph, x: np.ndarray, *, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run `g` on one int8 input in the graph input's NHWC shape.

    Returns the graph outputs by tensor name, or every tensor (input included) when
    `keep_all`. Tensors are dropped as soon as no later node reads them otherwise.
    """
    if len(g.inputs) != 1:
        raise EdgembError(f"graph has {len(g.inputs)} inputs; run() takes exactly one")
    t_in = g.tensors[g.inputs[0]]
    x = np.asarray(x)
    if x.dtype != np.int8 or x.shape != tuple(t_in.shape):
        raise EdgembError(f"input '{t_in.name}': expected int8 {tuple(t_in.shape)}, "
                          f"got {x.dtype} {x.shape}")
    last_use = {t: i for i, n in enumerate(g.nodes) for t in n.inputs}
    env = {t_in.name: x}
    for i, node in enumerate(g.nodes):
        env[node.outputs[0]] = run_node(g, node, [env[t] for t in node.inputs])
        if not keep_all:
            for t in node.inputs:
                if last_use.get(t) == i and t not in g.outputs:
                    env.pop(t, None)
    return env if keep_all else {t: env[t] for t in g.outputs}
