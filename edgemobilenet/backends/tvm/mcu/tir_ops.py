"""QGraph layer -> TIR PrimFunc with the exact integer semantics of `quant/OPS.md`.

Each supported node becomes one TE computation whose parameters are the activations in,
the constant tables (weights in our own layout, folded biases, requantization tables) and
the output last. `TirLayer.args` says what to pass for each parameter: a tensor name
(activation in the arena) or a numpy array (a constant the firmware stores).

Offline folding keeps the inner loop an int8 x int8 -> int32 dot product:
`sum (x - zp_x) * w = sum x * w - zp_x * sum w`, so padded positions hold `zp_x` and the
bias absorbs `-zp_x * sum w` (exact in int32). Requantization uses the one-multiply form
of `firmware/kernels/include/emb_fixedpoint.h` when every channel shifts right
(`MBQM(a, m, -e) = hi32(a*m + K + [a<0] * -2^31) >> (e-1)`, K = 2^30 + 2^(30+e)), else the
literal SRDHM + RoundingDivideByPOT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import te, tirx

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph, QNode

Arg = str | np.ndarray


@dataclass
class TirLayer:
    """One layer as a PrimFunc plus what to pass for each of its parameters."""

    func: tirx.PrimFunc
    args: list[Arg]          # per parameter: tensor name or constant array
    kind: str                # pointwise | conv | depthwise | fully_connected | add | avg_pool
    macs: int
    reduce_c: int = 0        # innermost (channel) reduction extent of a dot-product layer


def _i32(v: int) -> tirx.PrimExpr:
    return tirx.const(int(v), "int32")


def _i64(v: int) -> tirx.PrimExpr:
    return tirx.const(int(v), "int64")


def _clamp_i8(y: tirx.PrimExpr, lo: int, hi: int) -> tirx.PrimExpr:
    return tirx.Cast("int8", tirx.Max(tirx.Min(y, _i32(hi)), _i32(lo)))


# --- fixed point -------------------------------------------------------------------------
def mbqm_const(x: tirx.PrimExpr, m: int, shift: int) -> tirx.PrimExpr:
    """MBQM of an int32 expression by immediates (OPS.md), int32 result."""
    left, e = max(shift, 0), max(-shift, 0)
    if left:
        x = x << _i32(left)                           # wraps as int32
    x64 = tirx.Cast("int64", x)
    if e == 0:
        return tirx.Cast("int32", (x64 * _i64(m) + _i64(1 << 30)) >> _i64(31))
    k = (1 << 30) + (1 << (30 + e))
    p = x64 * _i64(m) + _i64(k) + (tirx.Cast("int64", x >> _i32(31)) << _i64(31))
    return tirx.Cast("int32", p >> _i64(32)) >> _i32(e - 1)


def _rq_tables(m: np.ndarray, shift: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """Per-channel requantization tables: ("fast", [m, K, e-1]) or ("exact", [m, left, e])."""
    m = m.astype(np.int64)
    shift = shift.astype(np.int64)
    if np.all(shift < 0) and np.all(m >= 0):
        e = -shift
        k = (np.int64(1) << 30) + (np.int64(1) << (30 + e))
        return "fast", [m.astype(np.int32), k.astype(np.int64), (e - 1).astype(np.int32)]
    if np.any(m < 0):
        raise EdgembError("requantization multipliers must be >= 0")
    return "exact", [m.astype(np.int32), np.maximum(shift, 0).astype(np.int32),
                     np.maximum(-shift, 0).astype(np.int32)]


def _requant(acc: tirx.PrimExpr, c, mode: str, tabs: list[te.Tensor], zp: int, lo: int,
             hi: int) -> tirx.PrimExpr:
    if mode == "fast":
        tm, tk, te1 = tabs
        p = (tirx.Cast("int64", acc) * tirx.Cast("int64", tm[c]) + tk[c]
             + (tirx.Cast("int64", acc >> _i32(31)) << _i64(31)))
        y = tirx.Cast("int32", p >> _i64(32)) >> te1[c]
    else:
        tm, tl, tr = tabs
        a = acc << tl[c]
        s = tirx.Cast("int32", (tirx.Cast("int64", a) * tirx.Cast("int64", tm[c])
                                + _i64(1 << 30)) >> _i64(31))
        mask = (_i32(1) << tr[c]) - _i32(1)
        thr = (mask >> _i32(1)) + tirx.Select(s < _i32(0), _i32(1), _i32(0))
        y = (s >> tr[c]) + tirx.Select((s & mask) > thr, _i32(1), _i32(0))
    return _clamp_i8(y + _i32(zp), lo, hi)


def _rq_placeholders(mode: str, n: int) -> list[te.Tensor]:
    dts = ["int32", "int64", "int32"] if mode == "fast" else ["int32"] * 3
    names = ["m", "k", "e1"] if mode == "fast" else ["m", "left", "right"]
    return [te.placeholder((n,), dt, name=nm) for dt, nm in zip(dts, names)]


# --- layers --------------------------------------------------------------------------------
def _act(node: QNode) -> tuple[int, int]:
    a = ops.attrs_of(node)
    return a.act_min, a.act_max


def _conv2d(g: QGraph, node: QNode) -> TirLayer:
    xt, yt = g.tensor(node.inputs[0]), g.tensor(node.outputs[0])
    _, h, wd, c = xt.shape
    _, oh, ow, oc = yt.shape
    w = node.params["weight"]
    _, kh, kw, cg = w.shape
    a = ops.attrs_of(node)
    sh, sw = a.stride
    pt, pl, pb, pr = a.padding
    dh, dw = a.dilation
    groups = a.groups
    zp_x, zp_y = int(xt.zero_point), int(yt.zero_point)
    lo, hi = _act(node)
    depthwise = groups == c == oc and cg == 1
    sum_w = w.astype(np.int64).reshape(oc, -1).sum(axis=1)
    bias = (node.params["bias"].astype(np.int64) - zp_x * sum_w).astype(np.int32)
    mode, tables = _rq_tables(node.params["multiplier"], node.params["shift"])

    X = te.placeholder((1, h, wd, c), "int8", name="X")
    if pt or pl or pb or pr:
        hp, wp = h + pt + pb, wd + pl + pr

        def pad(n, i, j, ch):
            inside = tirx.all(i >= pt, i < pt + h, j >= pl, j < pl + wd)
            return tirx.if_then_else(inside, X[n, i - pt, j - pl, ch], tirx.const(zp_x, "int8"))
        xp = te.compute((1, hp, wp, c), pad, name="pad")
    else:
        xp = X
    rh = te.reduce_axis((0, kh), name="rh")
    rw = te.reduce_axis((0, kw), name="rw")
    if depthwise:
        W = te.placeholder((kh, kw, c), "int8", name="W")
        w_const = np.ascontiguousarray(w[:, :, :, 0].transpose(1, 2, 0))
        acc = te.compute((1, oh, ow, oc), lambda n, i, j, ch: te.sum(
            xp[n, i * sh + rh * dh, j * sw + rw * dw, ch].astype("int32")
            * W[rh, rw, ch].astype("int32"), axis=[rh, rw]), name="acc")
        kind = "depthwise"
    else:
        # 2-D (OC, KH*KW*C/groups): a 4-row block of W is one strided region (tensorize)
        W = te.placeholder((oc, kh * kw * cg), "int8", name="W")
        w_const = np.ascontiguousarray(w).reshape(oc, -1)
        rc = te.reduce_axis((0, cg), name="rc")
        og = oc // groups

        def cin(ch, r):
            return r if groups == 1 else (ch // og) * cg + r
        acc = te.compute((1, oh, ow, oc), lambda n, i, j, ch: te.sum(
            xp[n, i * sh + rh * dh, j * sw + rw * dw, cin(ch, rc)].astype("int32")
            * W[ch, (rh * kw + rw) * cg + rc].astype("int32"), axis=[rh, rw, rc]), name="acc")
        kind = "pointwise" if kh == kw == 1 and groups == 1 else "conv"
    B = te.placeholder((oc,), "int32", name="B")
    tabs = _rq_placeholders(mode, oc)
    Y = te.compute((1, oh, ow, oc), lambda n, i, j, ch: _requant(
        acc[n, i, j, ch] + B[ch], ch, mode, tabs, zp_y, lo, hi), name="Y")
    func = te.create_prim_func([X, W, B, *tabs, Y])
    return TirLayer(func, [node.inputs[0], w_const, bias, *tables, node.outputs[0]], kind,
                    oh * ow * oc * kh * kw * cg, 0 if depthwise else cg)


def _fully_connected(g: QGraph, node: QNode) -> TirLayer:
    xt, yt = g.tensor(node.inputs[0]), g.tensor(node.outputs[0])
    c, oc = int(xt.shape[-1]), int(yt.shape[-1])
    w = node.params["weight"]
    zp_x, zp_y = int(xt.zero_point), int(yt.zero_point)
    lo, hi = _act(node)
    bias = (node.params["bias"].astype(np.int64)
            - zp_x * w.astype(np.int64).sum(axis=1)).astype(np.int32)
    mode, tables = _rq_tables(node.params["multiplier"], node.params["shift"])
    X = te.placeholder((1, c), "int8", name="X")
    W = te.placeholder((oc, c), "int8", name="W")
    rc = te.reduce_axis((0, c), name="rc")
    acc = te.compute((1, oc), lambda n, o: te.sum(
        X[n, rc].astype("int32") * W[o, rc].astype("int32"), axis=rc), name="acc")
    B = te.placeholder((oc,), "int32", name="B")
    tabs = _rq_placeholders(mode, oc)
    Y = te.compute((1, oc), lambda n, o: _requant(acc[n, o] + B[o], o, mode, tabs, zp_y, lo,
                                                  hi), name="Y")
    func = te.create_prim_func([X, W, B, *tabs, Y])
    return TirLayer(func, [node.inputs[0], np.ascontiguousarray(w), bias, *tables,
                           node.outputs[0]], "fully_connected", c * oc, c)


def _add(g: QGraph, node: QNode) -> TirLayer:
    ta, tb, ty = (g.tensor(t) for t in (*node.inputs, node.outputs[0]))
    n = int(np.prod(ty.shape))
    m = [int(v) for v in node.params["multiplier"]]
    s = [int(v) for v in node.params["shift"]]
    ls = ops.attrs_of(node).left_shift
    lo, hi = _act(node)
    A = te.placeholder((n,), "int8", name="A")
    B = te.placeholder((n,), "int8", name="B")

    def body(i):
        a1 = mbqm_const((A[i].astype("int32") - _i32(ta.zero_point)) << _i32(ls), m[0], s[0])
        b1 = mbqm_const((B[i].astype("int32") - _i32(tb.zero_point)) << _i32(ls), m[1], s[1])
        return _clamp_i8(mbqm_const(a1 + b1, m[2], s[2]) + _i32(ty.zero_point), lo, hi)
    Y = te.compute((n,), body, name="Y")
    return TirLayer(te.create_prim_func([A, B, Y]),
                    [node.inputs[0], node.inputs[1], node.outputs[0]], "add", 0)


def _avg_pool(g: QGraph, node: QNode) -> TirLayer:
    xt, yt = g.tensor(node.inputs[0]), g.tensor(node.outputs[0])
    _, h, wd, c = xt.shape
    _, oh, ow, _ = yt.shape
    a = ops.attrs_of(node)
    kh, kw = a.kernel
    sh, sw = a.stride
    pt, pl = a.padding[:2]
    lo, hi = _act(node)
    X = te.placeholder((1, h, wd, c), "int8", name="X")
    rh = te.reduce_axis((0, kh), name="rh")
    rw = te.reduce_axis((0, kw), name="rw")
    padded = any(a.padding)

    def tap(i, j, ch):
        ih, iw = i * sh + rh - pt, j * sw + rw - pl
        if not padded:
            return X[0, ih, iw, ch].astype("int32")
        inside = tirx.all(ih >= 0, ih < h, iw >= 0, iw < wd)
        return tirx.if_then_else(inside, X[0, ih, iw, ch].astype("int32"), _i32(0))
    acc = te.compute((1, oh, ow, c), lambda n, i, j, ch: te.sum(tap(i, j, ch), axis=[rh, rw]),
                     name="acc")

    def count(i, j):
        if not padded:
            return _i32(kh * kw)
        h0, w0 = i * sh - pt, j * sw - pl
        ch_ = tirx.Min(h0 + kh, _i32(h)) - tirx.Max(h0, _i32(0))
        cw_ = tirx.Min(w0 + kw, _i32(wd)) - tirx.Max(w0, _i32(0))
        return ch_ * cw_

    def body(n, i, j, ch):
        s, cnt = acc[n, i, j, ch], count(i, j)
        half = tirx.Select(s >= _i32(0), cnt // _i32(2), _i32(0) - cnt // _i32(2))
        return _clamp_i8(tirx.truncdiv(s + half, cnt), lo, hi)
    Y = te.compute((1, oh, ow, c), body, name="Y")
    return TirLayer(te.create_prim_func([X, Y]), [node.inputs[0], node.outputs[0]],
                    "avg_pool", 0)


BACKEND = "tvm_mcu"
for _op, _fn in (("conv2d", _conv2d), ("fully_connected", _fully_connected), ("add", _add),
                 ("avg_pool", _avg_pool)):
    ops.register_lowering(BACKEND, _op, _fn)


def supported(g: QGraph, node: QNode) -> bool:
    """Whether `node` has a TIR lowering."""
    return BACKEND in ops.spec(node.op).lowerings


def lower(g: QGraph, node: QNode) -> TirLayer:
    """The TIR PrimFunc (and its arguments) for one QGraph node."""
    return ops.lowering(BACKEND, node)(g, node)
