"""QGraph -> Relax IRModule with integer ops only (NHWC, semantics of `quant/OPS.md`).

Convolutions and matmuls are Relax int8 ops accumulating in int32 (input zero point folded
offline into the bias, padding filled with the zero point); every requantizing step is one
TE kernel (`te_fixedpoint`) that TVM fuses behind the convolution. With a dot-product
`layouts.Layout` (chosen from the target), convolutions with groups == 1 and dense layers
are TE kernels over packed, channel-padded weights (`te_packed`) that MetaSchedule
tensorizes; depthwise convolutions are TE kernels over `(KH, KW, C)` weights
(`te_depthwise`); grouped convolutions stay generic. Per-channel constants
are computed here with numpy; every quantization constant (zero points, clamp bounds,
multipliers, shifts) reaches the kernels as a small int32 tensor, so kernels depend on
shapes only and a tuning database serves every calibration of an architecture. The function is `main(x: int8 (1,H,W,C))` and returns the
graph output (or a tuple when the graph has several outputs). Bit-exact with the numpy
reference by construction; checked by tests/test_tvm_*.py.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tvm
from tvm import relax, te, tirx

from edgemobilenet.backends.tvm import dw_neon, dw_sdot, dw_vnni, dw_window, intrin_neon, layouts
from edgemobilenet.backends.tvm import prep_neon
from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm import te_depthwise, te_packed
from edgemobilenet.backends.tvm.layouts import Layout
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph, QNode, validate

Expr = relax.Expr
op = relax.op

# PrimFunc attribute of kernels that are elementwise in their data inputs. Relax's pattern
# analysis calls them injective because they read parameter tensors at constant indices;
# `build.lower` marks them elementwise again so requantization fuses behind convolutions.
ELEMWISE_ATTR = "edgemb.elemwise"
# a hand-written (`te.extern`) kernel's multiply-accumulates per call, which
# `kernel_profile.kernel_macs` cannot find in a loop nest without reduction blocks
MACS_ATTR = "edgemb_macs"


def declare_macs(stmt: tirx.Stmt, macs: int) -> tirx.Stmt:
    """`stmt` under an attribute giving its MACs (`MACS_ATTR`)."""
    return tirx.AttrStmt(tvm.ir.StringImm(MACS_ATTR), MACS_ATTR, tirx.const(macs, "int64"), stmt)


class _Builder:
    """Emits one QGraph node at a time into a Relax dataflow block."""

    def __init__(self, bb: relax.BlockBuilder, g: QGraph, layout: Layout | None = None,
                 form: str = tfp.INT64):
        self.bb = bb
        self.g = g
        self.layout = layout
        self.form = form
        self.env: dict[str, Expr] = {}
        # outputs of hand-written depthwise kernels in the layout's activation form
        # (`dw_neon`: int8; `dw_vnni`: uint8 when only pointwise convolutions read them)
        self.dw_outputs: list[Expr] = []

    # ---- small helpers -------------------------------------------------------------
    def emit(self, e: Expr) -> Expr:
        return self.bb.emit(e)

    @staticmethod
    def c(value, dtype: str) -> Expr:
        return relax.const(np.asarray(value, dtype=dtype), dtype)

    def ints(self, values) -> Expr:
        """A small int32 constant tensor of quantization parameters (a kernel argument)."""
        return self.c(np.asarray(values, dtype=np.int64).astype(np.int32), "int32")

    def te(self, fn, *args, name: str, elemwise: bool = False) -> Expr:
        """Emit a TE kernel; `elemwise` marks it elementwise in its data inputs (see
        `ELEMWISE_ATTR`), though it also reads quantization parameters."""
        attrs = {ELEMWISE_ATTR: True} if elemwise else {}
        return self.bb.emit_te(fn, *args, primfunc_name_hint=name, primfunc_attrs=attrs)

    def zp(self, name: str) -> int:
        return int(self.g.tensors[name].zero_point)

    # ---- ops -----------------------------------------------------------------------
    def conv2d(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        w = n.params["weight"]
        zp_x = self.zp(n.inputs[0])
        a = ops.attrs_of(n)
        pads, stride, dilation, groups = a.padding, a.stride, a.dilation, a.groups
        if self.layout is not None and groups == 1:
            lay = self.layout
            _, cp = layouts.padded(w.shape[0], w.shape[3], lay)
            wp = layouts.pack_conv(w, lay)
            if cp == layouts.K_BLOCK and w.shape[2] > 1 and lay.stem_columns:
                kw, sw, dw = w.shape[2], stride[1], dilation[1]
                xp = self.te(lambda t, z: te_packed.prepare_columns(t, pads, kw, sw, dw, z, lay),
                             x, self.ints([zp_x]), name="prep")
                wp, stride, dilation = te_packed.columns_weights(wp), (stride[0], 1), \
                    (dilation[0], 1)
            elif not any(pads) and lay.act_offset and any(x.same_as(v) for v in self.dw_outputs):
                xp = x   # x86 VNNI: `dw_vnni` stored its output prepared (uint8)
            elif not any(pads) and cp == w.shape[3] and lay.act_offset == 0 and (
                    lay is not layouts.NEON or any(x.same_as(v) for v in self.dw_outputs)):
                # the preparation would copy the input as is; on the NEON layout (rpi3,
                # rpi4) only after a depthwise kernel: the databases shipped for those
                # targets hold kernels with the copy fused behind them (to drop on re-tuning)
                xp = x
            elif (self.form == tfp.SQRDMULH and lay.act_offset == 0
                  and prep_neon.covers(self.g.tensors[n.inputs[0]].shape, cp)):
                b_, h, wd, _ = self.g.tensors[n.inputs[0]].shape
                shape = (b_, h + pads[0] + pads[2], wd + pads[1] + pads[3], cp)
                xp = self.te(lambda t, z: te.extern(shape, [t, z], lambda ins, outs: prep_neon.stmt(
                    *ins, outs[0], pads), name="prep_neon", dtype="int8"), x, self.ints([zp_x]),
                    name="prep")
            else:
                xp = self.te(lambda t, z: te_packed.prepare_input(t, pads, cp, z, lay), x,
                             self.ints([zp_x]), name="prep")
            acc = self.te(lambda t, k: te_packed.conv2d(t, k, stride, dilation), xp,
                          self.c(wp, "int8"), name="conv_packed")
            return self._requant_acc(n, acc, w, zp_x + lay.act_offset)
        # padded positions hold zp_x, which the folded bias cancels
        if groups == w.shape[0] == self.g.tensors[n.inputs[0]].shape[3] and w.shape[3] == 1:
            y = self._depthwise_hand(n, x, w, zp_x, pads, stride, dilation)
            if y is not None:
                return y
            acc = self.te(lambda t, k, z: te_depthwise.depthwise(t, k, z, pads, stride, dilation),
                          x, self.c(te_depthwise.weights(w), "int8"), self.ints([zp_x]),
                          name="depthwise")
            return self._requant_acc(n, acc, w, zp_x)
        if any(pads):
            x = self.te(lambda t, z: tfp.pad_zp(t, pads, z), x, self.ints([zp_x]), name="pad")
        acc = self.emit(op.nn.conv2d(
            x, self.c(w, "int8"), strides=stride, padding=0, dilation=dilation,
            groups=groups, data_layout="NHWC", kernel_layout="OHWI",
            out_dtype="int32"))
        return self._requant_acc(n, acc, w, zp_x)

    def fully_connected(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        w = n.params["weight"]
        zp_x = self.zp(n.inputs[0])
        if self.layout is not None:
            lay = self.layout
            _, cp = layouts.padded(w.shape[0], w.shape[1], lay)
            x4 = self.emit(op.reshape(x, (1, 1, 1, w.shape[1])))
            xp = self.emit(op.reshape(
                self.te(lambda t, z: te_packed.prepare_input(t, (0, 0, 0, 0), cp, z, lay), x4,
                        self.ints([zp_x]), name="prep"),
                (1, cp)))
            acc = self.te(te_packed.dense, xp, self.c(layouts.pack_dense(w, lay), "int8"),
                          name="dense_packed")
            return self._requant_acc(n, acc, w, zp_x + lay.act_offset)
        acc = self.emit(op.matmul(x, self.c(np.ascontiguousarray(w.T), "int8"), out_dtype="int32"))
        return self._requant_acc(n, acc, w, zp_x)

    def fully_connected_single_round(self, n: QNode) -> Expr:
        """int32 matmul, then OPS.md's one-rounding requantization in int64 (one kernel)."""
        w = n.params["weight"]
        zp_x = self.zp(n.inputs[0])
        acc = self.emit(op.matmul(self.env[n.inputs[0]], self.c(np.ascontiguousarray(w.T), "int8"),
                                  out_dtype="int32"))
        bias = n.params["bias"].astype(np.int64) - zp_x * w.astype(np.int64).sum(axis=1)
        k = 31 - n.params["shift"].astype(np.int64)
        # output zero point and clamp bounds as a kernel argument (shape-only workload)
        a = ops.attrs_of(n)
        q = np.array([self.zp(n.outputs[0]), a.act_min, a.act_max], dtype=np.int64)

        def body(acc: te.Tensor, b: te.Tensor, m: te.Tensor, k: te.Tensor,
                 q: te.Tensor) -> te.Tensor:
            def f(i, c):
                v = (tirx.Cast("int64", acc[i, c]) + b[c]) * m[c] + (tirx.const(1, "int64")
                                                                      << (k[c] - 1))
                v = (v >> k[c]) + q[0]
                return tirx.Cast("int8", tirx.Max(tirx.Min(v, q[2]), q[1]))
            return te.compute(acc.shape, f, name="requant_1r")
        return self.te(body, acc, self.c(bias, "int64"),
                       self.c(n.params["multiplier"].astype(np.int64), "int64"),
                       self.c(k, "int64"), self.c(q, "int64"), name="requant_1r")

    def _depthwise_hand(self, n: QNode, x: Expr, w: np.ndarray, zp_x: int, pads, stride,
                        dilation) -> Expr | None:
        """The depthwise convolution and its requantization as one hand-written kernel where
        one covers the target and shape (aarch64: `dw_sdot` with dotprod, else `dw_neon`;
        x86 AVX512-VNNI: `dw_vnni`), else None."""
        shape, kh = self.g.tensors[n.inputs[0]].shape, w.shape[1]
        if self.form == tfp.SQRDMULH and dw_neon.covers(shape):
            table = dw_neon.params(self._qparams(n, w, zp_x))
            form = dw_neon.Form.of(table, w)
            if self.layout is layouts.DOTPROD:
                y = self._depthwise_extern(
                    n, x, dw_window.weights(w), table, "depthwise_sdot", "int8",
                    lambda *b: dw_sdot.stmt(*b, kh, pads, stride, dilation, form))
            else:
                y = self._depthwise_extern(
                    n, x, te_depthwise.weights(w), table, "depthwise_neon", "int8",
                    lambda *b: dw_neon.stmt(*b, pads, stride, dilation, form))
            self.dw_outputs.append(y)
            return y
        if self.form == tfp.PMULDQ and self.layout is layouts.VNNI and dw_vnni.covers(shape):
            # activations offset by +128 in the kernel
            table = dw_vnni.params(self._qparams(n, w, zp_x + dw_vnni.OFFSET))
            vform = dw_vnni.Form.of(table, self._only_pointwise_reads(n.outputs[0]))
            y = self._depthwise_extern(
                n, x, dw_window.weights(w), table, "depthwise_vnni",
                "uint8" if vform.unsigned else "int8",
                lambda *b: dw_vnni.stmt(*b, kh, pads, stride, dilation, vform))
            if vform.unsigned:
                self.dw_outputs.append(y)
            return y
        return None

    def _depthwise_extern(self, n: QNode, x: Expr, wk: np.ndarray, table: np.ndarray,
                          name: str, dtype: str, stmt: Callable[..., tirx.Stmt]) -> Expr:
        """A depthwise convolution and its requantization as one hand-written kernel
        (`te.extern` named `name`, output `dtype`): `stmt(x, w, p, q, y)` over buffers of the
        input, the kernel's weights `wk`, its parameter `table` and q = [zp_x, zp_y, lo, hi]."""
        a = ops.attrs_of(n)
        shape = self.g.tensors[n.outputs[0]].shape
        w = n.params["weight"]
        macs = int(np.prod(shape)) * w.shape[1] * w.shape[2]

        def body(t: te.Tensor, k: te.Tensor, p: te.Tensor, q: te.Tensor) -> te.Tensor:
            return te.extern(shape, [t, k, p, q], lambda ins, outs: declare_macs(
                stmt(*ins, outs[0]), macs), name=name, dtype=dtype)
        return self.te(body, x, self.c(wk, "int8"), self.ints(table),
                       self.ints([self.zp(n.inputs[0]), self.zp(n.outputs[0]), a.act_min,
                                  a.act_max]), name="depthwise")

    def _only_pointwise_reads(self, t: str) -> bool:
        """Whether tensor `t` is read only as the input of unpadded convolutions with
        groups == 1 (packed: their prepared input is `t` + 128 as uint8) and is no output."""
        readers = [n for n in self.g.nodes if t in n.inputs]
        return t not in self.g.outputs and bool(readers) and all(
            n.op == "conv2d" and n.inputs[0] == t and ops.attrs_of(n).groups == 1
            and not any(ops.attrs_of(n).padding) for n in readers)

    @staticmethod
    def _qparams(n: QNode, w: np.ndarray, zp_x: int) -> np.ndarray:
        """`te_fixedpoint.qparams` of a node with `-zp_x * sum(w)` folded into its bias."""
        w_sum = w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
        bias = n.params["bias"].astype(np.int64) - zp_x * w_sum
        if (np.abs(bias) >= 1 << 31).any():
            raise EdgembError(f"tvm backend: node '{n.name}': folded bias overflows int32")
        return tfp.qparams(bias, n.params["multiplier"], n.params["shift"])

    def _requant_acc(self, n: QNode, acc: Expr, w: np.ndarray, zp_x: int) -> Expr:
        """acc = sum(x*w) -> + bias - zp_x*sum(w) -> MBQM -> + zp_y -> clamp, one kernel.

        `zp_x` is the zero point of the activations as the dot product saw them (offset
        by +128 for uint8 layouts); `acc` may carry padded channels, which are dropped.
        """
        cols = [self.c(col, "int32") for col in self._qparams(n, w, zp_x).T]
        a = ops.attrs_of(n)
        q = self.ints([self.zp(n.outputs[0]), a.act_min, a.act_max])
        return self.te(lambda *a: tfp.requant_channels(*a, form=self.form), acc,
                       *cols, q, w.shape[0], name="requant", elemwise=True)

    def add(self, n: QNode) -> Expr:
        m, sh, a = n.params["multiplier"], n.params["shift"], ops.attrs_of(n)
        p = self.ints([self.zp(n.inputs[0]), self.zp(n.inputs[1]), self.zp(n.outputs[0]),
                       a.act_min, a.act_max, a.left_shift,
                       *(v for k in range(3) for v in tfp.scalar_qparams(m[k], sh[k]))])
        return self.te(lambda a, b, p: tfp.qadd(a, b, p, self.form), self.env[n.inputs[0]],
                       self.env[n.inputs[1]], p, name="qadd", elemwise=True)

    def mul(self, n: QNode) -> Expr:
        a = ops.attrs_of(n)
        p = self.ints([self.zp(n.inputs[0]), self.zp(n.inputs[1]), self.zp(n.outputs[0]),
                       a.act_min, a.act_max,
                       *tfp.scalar_qparams(n.params["multiplier"][0], n.params["shift"][0])])
        b_shape = self.g.tensors[n.inputs[1]].shape

        def body(a: te.Tensor, b: te.Tensor, p: te.Tensor) -> te.Tensor:
            def f(*i):
                bi = [0 if d == 1 else i[k + len(i) - len(b_shape)] for k, d in enumerate(b_shape)]
                v = (tirx.Cast("int32", a(*i)) - p[0]) * (tirx.Cast("int32", b(*bi)) - p[1])
                return tfp.clamp_i8(tfp.mbqm_at(v, p, 5, self.form) + p[2], p[3], p[4])
            return te.compute(a.shape, f, name="mul")
        return self.te(body, self.env[n.inputs[0]], self.env[n.inputs[1]], p, name="qmul",
                       elemwise=True)

    def lut(self, n: QNode) -> Expr:
        def body(x: te.Tensor, table: te.Tensor) -> te.Tensor:
            if self.form == tfp.SQRDMULH and intrin_neon.lut_lanes(x.shape):   # aarch64: NEON lookups
                return te.extern(x.shape, [x, table],
                                 lambda ins, outs: intrin_neon.lut_stmt(*ins, outs[0]),
                                 name="lut", dtype="int8")
            return te.compute(x.shape, lambda *i: table[tirx.Cast("int32", x(*i)) + 128],
                              name="lut")
        return self.te(body, self.env[n.inputs[0]], self.c(n.params["table"], "int8"), name="lut")

    def avg_pool(self, n: QNode) -> Expr:
        x = self.env[n.inputs[0]]
        _, h, w, ch = self.g.tensors[n.inputs[0]].shape
        _, oh, ow, _ = self.g.tensors[n.outputs[0]].shape
        a = ops.attrs_of(n)
        (kh, kw), (sh, sw), (t, l, b, r) = a.kernel, a.stride, a.padding
        if (kh, kw) == (h, w) and (oh, ow) == (1, 1) and not (t or l or b or r):
            s = self.emit(op.sum(op.astype(x, "int32"), axis=[1, 2], keepdims=True))
            count = np.full((1, 1), h * w, dtype=np.int32)
        else:  # window sums as a depthwise conv with ones (zero padding: not counted)
            ones = np.ones((ch, kh, kw, 1), dtype=np.int8)
            s = self.emit(op.nn.conv2d(x, self.c(ones, "int8"), strides=(sh, sw),
                                       padding=(t, l, b, r), groups=ch, data_layout="NHWC",
                                       kernel_layout="OHWI", out_dtype="int32"))
            count = _window_counts(h, w, oh, ow, kh, kw, sh, sw, t, l).astype(np.int32)
        p = self.ints([a.act_min, a.act_max])

        def body(s: te.Tensor, cnt: te.Tensor, p: te.Tensor) -> te.Tensor:
            def f(b_, y, x_, c):
                v, k = s[b_, y, x_, c], _nonzero(cnt[y, x_])
                num = tirx.Select(v >= 0, v + k // 2, v - k // 2)
                q = tirx.Select(num >= 0, tirx.truncdiv(num, k), -tirx.truncdiv(-num, k))
                return tfp.clamp_i8(q, p[0], p[1])
            return te.compute(s.shape, f, name="avg")
        return self.te(body, s, self.c(count, "int32"), p, name="avg_div",
                       elemwise=True)

    def max_pool(self, n: QNode) -> Expr:
        """Padding with -128 never wins a window (each holds a real position)."""
        x = self.env[n.inputs[0]]
        a = ops.attrs_of(n)
        (kh, kw), (sh, sw), (t, l, b, r) = a.kernel, a.stride, a.padding
        if t or l or b or r:
            x = self.emit(op.nn.pad(x, [0, 0, t, b, l, r, 0, 0], pad_value=-128.0))
        y = self.emit(op.nn.max_pool2d(x, (kh, kw), (sh, sw), layout="NHWC"))
        bounds = self.ints([a.act_min, a.act_max])

        def clamp(v: te.Tensor, p: te.Tensor) -> te.Tensor:  # bounds as a kernel argument
            return te.compute(v.shape, lambda *i: tirx.Cast("int8", tirx.Max(tirx.Min(
                tirx.Cast("int32", v(*i)), p[1]), p[0])), name="clamp")
        return self.te(clamp, y, bounds, name="clamp", elemwise=True)

    def reshape(self, n: QNode) -> Expr:
        shape = tuple(self.g.tensors[n.outputs[0]].shape)
        return self.emit(op.reshape(self.env[n.inputs[0]], shape))

    def concat(self, n: QNode) -> Expr:
        a = ops.attrs_of(n)
        zy = self.zp(n.outputs[0])
        parts = []
        for i, t in enumerate(n.inputs):
            # an input kept as is (same scale and zero point) is rescaled by exactly 1
            # (MBQM(v, 2^30, 1) == v), so the kernel does not depend on the calibration
            m, sh = ((n.params["multiplier"][i], n.params["shift"][i]) if a.requantizes(i)
                     else (1 << 30, 1))
            p = self.ints([self.zp(t), zy if a.requantizes(i) else self.zp(t),
                           *tfp.scalar_qparams(m, sh)])

            def body(x: te.Tensor, p: te.Tensor) -> te.Tensor:
                return te.compute(x.shape, lambda *j: tfp.clamp_i8(
                    tfp.mbqm_at(tirx.Cast("int32", x(*j)) - p[0], p, 2, self.form) + p[1],
                    -128, 127),
                    name="rescale")
            parts.append(self.te(body, self.env[t], p, name="rescale", elemwise=True))
        return self.emit(op.concat(parts, axis=a.axis))

    def resize_bilinear(self, n: QNode) -> Expr:
        _, h, w, _ = self.g.tensors[n.inputs[0]].shape
        oh, ow = ops.attrs_of(n).size
        zp = self.ints([self.zp(n.inputs[0])])
        # per output row / column: [i0, i1, 1024 - f, f]
        rows = np.stack(_q10_coords(oh, h), axis=1).astype(np.int32)
        cols = np.stack(_q10_coords(ow, w), axis=1).astype(np.int32)

        def body(x: te.Tensor, ry: te.Tensor, cx: te.Tensor, zp: te.Tensor) -> te.Tensor:
            def f(b, y, x_, c):
                v = 0
                for a in range(2):
                    for k in range(2):
                        q = tirx.Cast("int32", x[b, ry[y, a], cx[x_, k], c]) - zp[0]
                        v = v + q * ry[y, 2 + a] * cx[x_, 2 + k]
                return tfp.clamp_i8(((v + (1 << 19)) >> 20) + zp[0], -128, 127)
            return te.compute((1, oh, ow, x.shape[3]), f, name="resize")
        return self.te(body, self.env[n.inputs[0]], self.c(rows, "int32"),
                       self.c(cols, "int32"), zp, name="resize")

    def resize_table(self, n: QNode) -> Expr:
        oh, ow = (int(v) for v in self.g.tensors[n.outputs[0]].shape[1:3])

        def body(x: te.Tensor, ry: te.Tensor, cx: te.Tensor) -> te.Tensor:
            def f(b, y, x_, c):
                v = tirx.const(0, "int64")
                for a in range(2):
                    for k in range(2):
                        q = tirx.Cast("int64", x[b, ry[y, a], cx[x_, k], c])
                        v = v + q * tirx.Cast("int64", ry[y, 2 + a]) * tirx.Cast("int64",
                                                                                 cx[x_, 2 + k])
                v = v + tirx.Select(v > 0, tirx.const(1 << 19, "int64"),
                                    tirx.const(-(1 << 19), "int64"))
                q = tirx.Select(v >= 0, v >> 20, -((-v) >> 20))
                return tirx.Cast("int8", tirx.Max(tirx.Min(q, tirx.const(127, "int64")),
                                                  tirx.const(-128, "int64")))
            return te.compute((1, oh, ow, x.shape[3]), f, name="resize_table")
        return self.te(body, self.env[n.inputs[0]], self.c(n.params["rows"], "int32"),
                       self.c(n.params["cols"], "int32"), name="resize_table")

    def softmax(self, n: QNode) -> Expr:
        x = self.emit(op.astype(self.env[n.inputs[0]], "int32"))
        mx = self.emit(op.max(x, axis=-1, keepdims=True))
        e = self.emit(op.take(self.c(n.params["exp_table"], "int32"),
                              op.subtract(mx, x), axis=0))
        s = self.emit(op.sum(e, axis=-1, keepdims=True))

        def body(e: te.Tensor, s: te.Tensor) -> te.Tensor:
            def f(i, c):
                total = s[i, 0]
                q = tirx.truncdiv(e[i, c] * 256 + tirx.truncdiv(total, 2), _nonzero(total))
                return tfp.clamp_i8(q - 128, -128, 127)
            return te.compute(e.shape, f, name="softmax")
        return self.te(body, e, s, name="softmax_div")


def _nonzero(d: tirx.PrimExpr) -> tirx.PrimExpr:
    """A divisor that is never 0 in a real run (a window count, a sum of exponentials)
    made safe for per-kernel timing on zero-filled arguments (`device/tvm_vm.py`): x86
    traps on an integer division by zero."""
    return tirx.Max(d, tirx.const(1, "int32"))


def _window_counts(h, w, oh, ow, kh, kw, sh, sw, t, l) -> np.ndarray:
    """Number of non-padded input positions in each pooling window, (oh, ow) int64."""
    rows = np.array([min(o * sh - t + kh, h) - max(o * sh - t, 0) for o in range(oh)])
    cols = np.array([min(o * sw - l + kw, w) - max(o * sw - l, 0) for o in range(ow)])
    return np.outer(rows, cols).astype(np.int64)


def _q10_coords(out: int, size: int) -> tuple[np.ndarray, ...]:
    """Half-pixel source indices i0, i1 and Q10 weights 1024 - f, f (OPS.md resize)."""
    o = np.arange(out, dtype=np.int64)
    src = np.maximum(0, ((2 * o + 1) * size * 1024) // (2 * out) - 512)
    i0, f = src >> 10, src & 1023
    return i0, np.minimum(i0 + 1, size - 1), 1024 - f, f


# every registered op with a `_Builder` method of its name is lowered by that method
for _op in ops.OPS:
    if hasattr(_Builder, _op):
        ops.register_lowering("tvm", _op, getattr(_Builder, _op))


def build_module(g: QGraph, layout: Layout | None = None,
                 form: str = tfp.INT64) -> "tvm.IRModule":  # noqa: F821
    """Translate a validated QGraph into an IRModule with one Relax function `main`.

    With a `layout`, convolutions (groups == 1) and dense layers use packed weights;
    `form` (`te_fixedpoint.form` of the target): the form of every MBQM.
    """
    validate(g, "qgraph")
    if len(g.inputs) != 1:
        raise EdgembError(f"tvm backend: graphs with {len(g.inputs)} inputs are not supported")
    bb = relax.BlockBuilder()
    tin = g.tensors[g.inputs[0]]
    x = relax.Var("x", relax.TensorType(list(tin.shape), "int8"))
    with bb.function("main", [x]):
        with bb.dataflow():
            b = _Builder(bb, g, layout, form)
            b.env[tin.name] = x
            for node in g.nodes:
                b.env[node.outputs[0]] = ops.lowering("tvm", node)(b, node)
            outs = [b.env[t] for t in g.outputs]
            out = bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
        bb.emit_func_output(out)
    return bb.get()
