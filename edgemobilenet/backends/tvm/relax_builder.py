"""QGraph -> Relax IRModule with integer ops only (NHWC, semantics of `quant/OPS.md`).

Every op is built from Relax integer primitives (int8 conv2d / matmul accumulating in int32,
shifts, masks, selects, gathers) so the compiled module equals the numpy reference bit for
bit. Per-channel constants (multipliers, shifts, rounding masks, folded zero-point terms)
are computed here offline with numpy. The function is `main(x: int8 (1,H,W,C))` and returns
the graph output (or a tuple when the graph has several outputs).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from tvm import relax

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph, QNode

Expr = relax.Expr
op = relax.op


class _Builder:
    """Emits one QGraph node at a time into a Relax dataflow block."""

    def __init__(self, bb: relax.BlockBuilder, g: QGraph):
        self.bb = bb
        self.g = g
        self.env: dict[str, Expr] = {}

    # ---- small helpers -------------------------------------------------------------
    def emit(self, e: Expr) -> Expr:
        return self.bb.emit(e)

    @staticmethod
    def c(value, dtype: str) -> Expr:
        return relax.const(np.asarray(value, dtype=dtype), dtype)

    def i32(self, x: Expr) -> Expr:
        return self.emit(op.astype(x, "int32"))

    def clamp_i8(self, v: Expr, lo: int, hi: int) -> Expr:
        """Saturate an int32 tensor to [lo, hi] and cast to int8."""
        v = self.emit(op.clip(v, relax.prim_value(int(lo)), relax.prim_value(int(hi))))
        return self.emit(op.astype(v, "int8"))

    def mbqm(self, x: Expr, m: np.ndarray, shift: np.ndarray) -> Expr:
        """MultiplyByQuantizedMultiplier on an int32 tensor; m/shift broadcast (last axis)."""
        m = np.asarray(m, dtype=np.int64)
        shift = np.asarray(shift, dtype=np.int64)
        if (m < 0).any():
            raise EdgembError("tvm backend: negative requantization multiplier")
        left = np.maximum(shift, 0)
        right = np.maximum(-shift, 0)
        x64 = self.emit(op.astype(x, "int64"))
        if left.any():  # x * 2^left wraps as int32 (OPS.md): int64 product, truncating cast
            x64 = self.emit(op.multiply(x64, self.c(np.left_shift(1, left), "int64")))
            x64 = self.emit(op.astype(op.astype(x64, "int32"), "int64"))
        # SRDHM: m is never INT32_MIN, so the saturating case cannot occur
        ab = self.emit(op.multiply(x64, self.c(m, "int64")))
        neg = self.emit(op.less(ab, self.c(0, "int64")))
        nudge = self.emit(op.where(neg, self.c(1 - (1 << 30), "int64"), self.c(1 << 30, "int64")))
        num = self.emit(op.add(ab, nudge))
        pos_q = op.right_shift(num, self.c(31, "int64"))
        neg_q = op.negative(op.right_shift(op.negative(num), self.c(31, "int64")))
        q = self.emit(op.astype(op.where(op.less(num, self.c(0, "int64")), neg_q, pos_q), "int32"))
        if not right.any():
            return q
        # RDIVPOT in int32
        mask = (np.left_shift(1, right) - 1).astype(np.int32)
        rem = op.bitwise_and(q, self.c(mask, "int32"))
        threshold = op.add(self.c(mask >> 1, "int32"),
                           op.astype(op.less(q, self.c(0, "int32")), "int32"))
        up = op.astype(op.greater(rem, threshold), "int32")
        return self.emit(op.add(op.right_shift(q, self.c(right, "int32")), up))

    def zp(self, name: str) -> int:
        return int(self.g.tensors[name].zero_point)

    # ---- ops -----------------------------------------------------------------------
    def conv2d(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        w = n.params["weight"]
        zp_x = self.zp(n.inputs[0])
        top, left, bottom, right = (int(v) for v in n.attrs.get("padding", [0, 0, 0, 0]))
        if top or left or bottom or right:  # padded positions hold zp_x: contribute 0
            x = self.emit(op.nn.pad(x, [0, 0, top, bottom, left, right, 0, 0],
                                    pad_value=float(zp_x)))
        acc = self.emit(op.nn.conv2d(
            x, self.c(w, "int8"), strides=tuple(n.attrs.get("stride", [1, 1])), padding=0,
            dilation=tuple(n.attrs.get("dilation", [1, 1])), groups=int(n.attrs.get("groups", 1)),
            data_layout="NHWC", kernel_layout="OHWI", out_dtype="int32"))
        return self._requant_acc(n, acc, w, zp_x)

    def fully_connected(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        w = n.params["weight"]
        acc = self.emit(op.matmul(x, self.c(np.ascontiguousarray(w.T), "int8"), out_dtype="int32"))
        return self._requant_acc(n, acc, w, self.zp(n.inputs[0]))

    def _requant_acc(self, n: QNode, acc: Expr, w: np.ndarray, zp_x: int) -> Expr:
        """acc = sum(x*w) -> + bias - zp_x*sum(w) -> MBQM -> + zp_y -> clamp."""
        w_sum = w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
        bias = n.params["bias"].astype(np.int64) - zp_x * w_sum
        if (np.abs(bias) >= 1 << 31).any():
            raise EdgembError(f"tvm backend: node '{n.name}': folded bias overflows int32")
        acc = self.emit(op.add(acc, self.c(bias, "int32")))
        y = self.mbqm(acc, n.params["multiplier"], n.params["shift"])
        y = self.emit(op.add(y, self.c(self.zp(n.outputs[0]), "int32")))
        return self.clamp_i8(y, n.attrs["act_min"], n.attrs["act_max"])

    def add(self, n: QNode) -> Expr:
        ls = int(n.attrs.get("left_shift", 20))
        m, sh = n.params["multiplier"], n.params["shift"]
        parts = []
        for i, t in enumerate(n.inputs):
            v = op.subtract(self.i32(self.env[t]), self.c(self.zp(t), "int32"))
            v = self.emit(op.left_shift(v, self.c(ls, "int32")))
            parts.append(self.mbqm(v, m[i], sh[i]))
        y = self.mbqm(self.emit(op.add(parts[0], parts[1])), m[2], sh[2])
        y = self.emit(op.add(y, self.c(self.zp(n.outputs[0]), "int32")))
        return self.clamp_i8(y, n.attrs["act_min"], n.attrs["act_max"])

    def mul(self, n: QNode) -> Expr:
        a, b = (self.emit(op.subtract(self.i32(self.env[t]), self.c(self.zp(t), "int32")))
                for t in n.inputs)
        y = self.mbqm(self.emit(op.multiply(a, b)), n.params["multiplier"][0],
                      n.params["shift"][0])
        y = self.emit(op.add(y, self.c(self.zp(n.outputs[0]), "int32")))
        return self.clamp_i8(y, n.attrs["act_min"], n.attrs["act_max"])

    def lut(self, n: QNode) -> Expr:
        idx = self.emit(op.add(self.i32(self.env[n.inputs[0]]), self.c(128, "int32")))
        return self.emit(op.take(self.c(n.params["table"], "int8"), idx, axis=0))

    def avg_pool(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        _, h, w, ch = self.g.tensors[n.inputs[0]].shape
        _, oh, ow, _ = self.g.tensors[n.outputs[0]].shape
        kh, kw = (int(v) for v in n.attrs["kernel"])
        sh, sw = (int(v) for v in n.attrs.get("stride", [1, 1]))
        t, l, b, r = (int(v) for v in n.attrs.get("padding", [0, 0, 0, 0]))
        if (kh, kw) == (h, w) and (oh, ow) == (1, 1) and not (t or l or b or r):
            s = self.emit(op.sum(self.i32(x), axis=[1, 2], keepdims=True))
            count = np.full((1, 1, 1, 1), h * w, dtype=np.int64)
        else:  # window sums as a depthwise conv with ones (zero padding: not counted)
            ones = np.ones((ch, kh, kw, 1), dtype=np.int8)
            s = self.emit(op.nn.conv2d(x, self.c(ones, "int8"), strides=(sh, sw),
                                       padding=(t, l, b, r), groups=ch, data_layout="NHWC",
                                       kernel_layout="OHWI", out_dtype="int32"))
            count = _window_counts(h, w, oh, ow, kh, kw, sh, sw, t, l).reshape(1, oh, ow, 1)
        half = self.c(count // 2, "int32")
        cnt = self.c(count, "int32")
        num = self.emit(op.where(op.greater_equal(s, self.c(0, "int32")),
                                 op.add(s, half), op.subtract(s, half)))
        pos = op.floor_divide(num, cnt)
        neg = op.negative(op.floor_divide(op.negative(num), cnt))
        y = self.emit(op.where(op.greater_equal(num, self.c(0, "int32")), pos, neg))
        return self.clamp_i8(y, n.attrs.get("act_min", -128), n.attrs.get("act_max", 127))

    def reshape(self, n: QNode) -> Expr:
        return self.emit(op.reshape(self.env[n.inputs[0]], tuple(self.g.tensors[n.outputs[0]].shape)))

    def concat(self, n: QNode) -> Expr:
        requant = n.attrs.get("requant", [1] * len(n.inputs))
        zp_y = self.zp(n.outputs[0])
        parts = []
        for i, t in enumerate(n.inputs):
            if not requant[i]:
                parts.append(self.env[t])
                continue
            v = self.emit(op.subtract(self.i32(self.env[t]), self.c(self.zp(t), "int32")))
            v = self.mbqm(v, n.params["multiplier"][i], n.params["shift"][i])
            parts.append(self.clamp_i8(self.emit(op.add(v, self.c(zp_y, "int32"))), -128, 127))
        return self.emit(op.concat(parts, axis=int(n.attrs.get("axis", 3))))

    def resize_bilinear(self, n: QNode) -> Expr:
        _, h, w, _ = self.g.tensors[n.inputs[0]].shape
        oh, ow = (int(v) for v in n.attrs["size"])
        zp = self.zp(n.inputs[0])
        x = self.emit(op.subtract(self.i32(self.env[n.inputs[0]]), self.c(zp, "int32")))
        y0, y1, fy = _q10_coords(oh, h)
        x0, x1, fx = _q10_coords(ow, w)
        rows = [self.emit(op.take(x, self.c(i, "int32"), axis=1)) for i in (y0, y1)]
        quad = [[self.emit(op.take(r, self.c(j, "int32"), axis=2)) for j in (x0, x1)]
                for r in rows]
        wy = [(1024 - fy).reshape(1, oh, 1, 1), fy.reshape(1, oh, 1, 1)]
        wx = [(1024 - fx).reshape(1, 1, ow, 1), fx.reshape(1, 1, ow, 1)]
        v = None
        for a in range(2):
            for b in range(2):
                term = op.multiply(quad[a][b], self.c(wy[a] * wx[b], "int32"))
                v = term if v is None else op.add(v, term)
        v = self.emit(op.right_shift(op.add(v, self.c(1 << 19, "int32")), self.c(20, "int32")))
        return self.clamp_i8(self.emit(op.add(v, self.c(zp, "int32"))), -128, 127)

    def softmax(self, n: QNode) -> Expr:
        x = self.i32(self.env[n.inputs[0]])
        mx = self.emit(op.max(x, axis=-1, keepdims=True))
        e = self.emit(op.take(self.c(n.params["exp_table"], "int32"),
                              op.subtract(mx, x), axis=0))
        s = self.emit(op.sum(e, axis=-1, keepdims=True))
        num = op.add(op.multiply(e, self.c(256, "int32")),
                     op.floor_divide(s, self.c(2, "int32")))
        y = self.emit(op.subtract(op.floor_divide(num, s), self.c(128, "int32")))
        return self.clamp_i8(y, -128, 127)


def _window_counts(h, w, oh, ow, kh, kw, sh, sw, t, l) -> np.ndarray:
    """Number of non-padded input positions in each pooling window, (oh, ow) int64."""
    rows = np.array([min(o * sh - t + kh, h) - max(o * sh - t, 0) for o in range(oh)])
    cols = np.array([min(o * sw - l + kw, w) - max(o * sw - l, 0) for o in range(ow)])
    return np.outer(rows, cols).astype(np.int64)


def _q10_coords(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel source indices and Q10 fractions (OPS.md resize_bilinear)."""
    o = np.arange(out, dtype=np.int64)
    src = np.maximum(0, ((2 * o + 1) * size * 1024) // (2 * out) - 512)
    i0 = src >> 10
    return i0, np.minimum(i0 + 1, size - 1), src & 1023


_OPS: dict[str, Callable[[_Builder, QNode], Expr]] = {
    name: getattr(_Builder, name)
    for name in ("conv2d", "fully_connected", "add", "mul", "lut", "avg_pool", "reshape",
                 "concat", "resize_bilinear", "softmax")
}


def build_module(g: QGraph) -> "tvm.IRModule":  # noqa: F821 (tvm imported lazily by callers)
    """Translate a validated QGraph into an IRModule with one Relax function `main`."""
    g.validate("qgraph")
    if len(g.inputs) != 1:
        raise EdgembError(f"tvm backend: graphs with {len(g.inputs)} inputs are not supported")
    bb = relax.BlockBuilder()
    tin = g.tensors[g.inputs[0]]
    x = relax.Var("x", relax.TensorType(list(tin.shape), "int8"))
    with bb.function("main", [x]):
        with bb.dataflow():
            b = _Builder(bb, g)
            b.env[tin.name] = x
            for node in g.nodes:
                fn = _OPS.get(node.op)
                if fn is None:
                    raise EdgembError(f"tvm backend: node '{node.name}': op '{node.op}' "
                                      f"is not supported")
                b.env[node.outputs[0]] = fn(b, node)
            outs = [b.env[t] for t in g.outputs]
            out = bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        bb.emit_func_output(out)
    return bb.get()
