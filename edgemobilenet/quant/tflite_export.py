"""QGraph -> fully-integer int8 `.tflite` (LiteRT), built with the schema's generated code.

Each QGraph op maps onto TFLite builtins whose integer arithmetic is the QGraph's (OPS.md):
conv2d -> CONV_2D / DEPTHWISE_CONV_2D (explicit padding that is neither SAME nor VALID
becomes a PAD first), fully_connected -> FULLY_CONNECTED, add -> ADD, mul -> MUL, avg_pool ->
AVERAGE_POOL_2D, reshape -> RESHAPE, concat -> QUANTIZE (int8 requantize of the inputs whose
scale differs) + CONCATENATION, lut -> CAST + ADD + GATHER (an exact 256-entry table).
TFLite derives multipliers and clamps from float32 scales at load time; the exporter picks
each weight scale so that TFLite's derivation gives back the QGraph's exact multiplier, and
a clamp no fused activation reproduces becomes MAXIMUM / MINIMUM. resize_table maps to
RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR, max_pool to MAX_POOL_2D, fully_connected_single_round
to a per-channel FULLY_CONNECTED. resize_bilinear and softmax map to TFLite's own ops, whose
rounding differs (reported as inexact nodes).
The QGraph's node names and meta travel in the model's metadata `edgemb.qgraph` (names
only: the importer reads semantics from the ops).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.fixedpoint import quantize_multiplier, quantize_multipliers
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor, validate
from edgemobilenet.quant.tflite_schema import (
    FILE_IDENTIFIER, METADATA_NAME, SCHEMA_VERSION, Act, Op, TType, activation_range,
    conv_multiplier, f32, mean_multiplier, schema)
from edgemobilenet.quant.tflite_tables import elementwise_table, resize_table

# op versions as TFLite's converter writes them for int8 (any version the kernel registers runs)
_VERSIONS = {Op.CONV_2D: 3, Op.DEPTHWISE_CONV_2D: 3, Op.FULLY_CONNECTED: 4, Op.ADD: 2,
             Op.MUL: 2, Op.AVERAGE_POOL_2D: 2, Op.MAX_POOL_2D: 2, Op.RESHAPE: 1, Op.CONCATENATION: 2,
             Op.QUANTIZE: 2, Op.PAD: 2, Op.RESIZE_BILINEAR: 3, Op.RESIZE_NEAREST_NEIGHBOR: 3, Op.SOFTMAX: 2, Op.CAST: 1,
             Op.GATHER: 2, Op.MAXIMUM: 2, Op.MINIMUM: 2, Op.MEAN: 2, Op.LOGISTIC: 2,
             Op.TANH: 2, Op.HARD_SWISH: 1, Op.RELU: 2, Op.RELU6: 2, Op.RELU_N1_TO_1: 2}
_NATIVE_LUT = {"sigmoid": Op.LOGISTIC, "tanh": Op.TANH, "hardswish": Op.HARD_SWISH,
               "relu": Op.RELU, "relu6": Op.RELU6, "relu_n1_to_1": Op.RELU_N1_TO_1}


@dataclass
class ExportResult:
    """The flatbuffer and the nodes whose TFLite arithmetic differs from the QGraph's."""

    data: bytes
    inexact: list[str] = field(default_factory=list)


def same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int, int]:
    """TFLite SAME: (output size, pad before, pad after)."""
    out = (n + s - 1) // s
    total = max(0, (out - 1) * s + d * (k - 1) + 1 - n)
    return out, total // 2, total - total // 2


def padding_mode(hw: tuple[int, int], k: tuple[int, int], s: list[int], d: list[int],
                 pad: list[int]) -> int | None:
    """schema.Padding.SAME / VALID when `pad` [t, l, b, r] is exactly that, else None."""
    if not any(pad):
        return schema.Padding.VALID
    sh = same_padding(hw[0], k[0], s[0], d[0])
    sw = same_padding(hw[1], k[1], s[1], d[1])
    if [sh[1], sw[1], sh[2], sw[2]] == list(pad):
        return schema.Padding.SAME
    return None


class _Writer:
    def __init__(self, g: QGraph):
        self.g = g
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [schema.BufferT()]  # buffer 0: the empty buffer
        self.index: dict[str, int] = {}
        self.ops: list[Any] = []
        self.codes: dict[int, int] = {}
        self.inexact: list[str] = []

    # -- tensors ---------------------------------------------------------------------------
    def tensor(self, name: str, shape: tuple[int, ...], ttype: int,
               scale: list[float] | None = None, zp: list[int] | None = None,
               data: np.ndarray | None = None, qdim: int = 0) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type = name, np.array(shape, np.int32), ttype
        if scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = np.array(scale, np.float32)
            q.zeroPoint = np.array(zp if zp is not None else [0] * len(scale), np.int64)
            q.quantizedDimension = qdim
            t.quantization = q
        if data is not None:
            t.buffer = len(self.buffers)
            self.buffers.append(schema.BufferT(data=np.frombuffer(
                np.ascontiguousarray(data).tobytes(), np.uint8)))
        self.index[name] = len(self.tensors)
        self.tensors.append(t)
        return self.index[name]

    def act(self, t: QTensor, name: str | None = None) -> int:
        """The int8 activation tensor of QGraph tensor `t` (or a sibling with its params)."""
        name = name or t.name
        if name not in self.index:
            self.tensor(name, t.shape, TType.INT8, [f32(t.scale)], [int(t.zero_point)])
        return self.index[name]

    def const(self, name: str, arr: np.ndarray, scale: list[float] | None = None,
              zp: list[int] | None = None, qdim: int = 0) -> int:
        ttype = {np.dtype(np.int8): TType.INT8, np.dtype(np.int32): TType.INT32}[arr.dtype]
        return self.tensor(name, arr.shape, ttype, scale, zp, arr, qdim)

    # -- operators -------------------------------------------------------------------------
    def op(self, code: int, inputs: list[int], outputs: list[int], opt_type: int = 0,
           opts: Any = None) -> None:
        if code not in self.codes:
            self.codes[code] = len(self.codes)
        o = schema.OperatorT()
        o.opcodeIndex = self.codes[code]
        o.inputs, o.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        o.builtinOptionsType, o.builtinOptions = opt_type, opts
        self.ops.append(o)

    def output_with_act(self, node: QNode) -> tuple[int, int]:
        """(output tensor index for the op, fused activation); a clamp that no fused
        activation gives becomes MAXIMUM / MINIMUM after the op."""
        t = self.g.tensors[node.outputs[0]]
        act = ops.activation(node)
        lo, hi = act.act_min, act.act_max
        for a in (Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1):
            if activation_range(a, t.scale, t.zero_point) == (lo, hi):
                return self.act(t), a
        raw = self.act(t, f"{t.name}::unclamped")
        mid = self.act(t, f"{t.name}::max")
        q = ([f32(t.scale)], [int(t.zero_point)])
        self.op(Op.MAXIMUM, [raw, self.const(f"{t.name}::lo", np.array([lo], np.int8), *q)],
                [mid], schema.BuiltinOptions.MaximumMinimumOptions,
                schema.MaximumMinimumOptionsT())
        self.op(Op.MINIMUM, [mid, self.const(f"{t.name}::hi", np.array([hi], np.int8), *q)],
                [self.act(t)], schema.BuiltinOptions.MaximumMinimumOptions,
                schema.MaximumMinimumOptionsT())
        return raw, Act.NONE

    def emit_then_clamp(self, node: QNode, emit) -> None:
        """Build the op (emit(out_index, fused_act)); clamp ops, if any, come after it."""
        n_before = len(self.ops)
        out, a = self.output_with_act(node)
        clamp = self.ops[n_before:]
        del self.ops[n_before:]
        emit(out, a)
        self.ops.extend(clamp)

    # -- ops -------------------------------------------------------------------------------
    def weight_scales(self, node: QNode) -> np.ndarray:
        """float32 weight scales from which TFLite derives exactly the node's multipliers."""
        s_in = self.g.tensors[node.inputs[0]].scale
        s_out = self.g.tensors[node.outputs[0]].scale
        p = node.params
        given = p.get("w_scale")
        out = np.empty(len(p["multiplier"]), np.float32)
        bad = 0
        for c, (m, sh) in enumerate(zip(p["multiplier"].tolist(), p["shift"].tolist())):
            ideal = np.float32(m * 2.0 ** (sh - 31) * f32(s_out) / f32(s_in))
            cands = [np.float32(given[c])] if given is not None else []
            cands.append(ideal)
            up = down = ideal
            for _ in range(64):
                up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(0))
                cands += [up, down]
            hit = next((w for w in cands if w > 0 and conv_multiplier(s_in, w, s_out) == (m, sh)),
                       None)
            if m == 0:  # a dead channel: any scale TFLite quantizes to multiplier 0 would do
                hit = cands[0] if cands[0] > 0 else np.float32(1.0)
                bad += conv_multiplier(s_in, hit, s_out) != (0, 0)
            elif hit is None:
                bad += 1
            out[c] = hit if hit is not None else ideal
        if bad:
            self.inexact.append(f"{node.name}: {bad} channel multipliers not representable")
        return out

    def padded_input(self, node: QNode, pad: list[int]) -> int:
        """A PAD of the node's input by [t, l, b, r] (int8 PAD fills with the zero point)."""
        x = self.g.tensors[node.inputs[0]]
        t, l, b, r = pad
        _, h, w, c = x.shape
        name = f"{node.name}::pad"
        y = self.tensor(name, (1, h + t + b, w + l + r, c), TType.INT8, [f32(x.scale)],
                        [int(x.zero_point)])
        pads = self.const(f"{name}::paddings", np.array([[0, 0], [t, b], [l, r], [0, 0]],
                                                       np.int32))
        self.op(Op.PAD, [self.index[x.name], pads], [y], schema.BuiltinOptions.PadOptions,
                schema.PadOptionsT())
        return y

    def conv2d(self, node: QNode) -> None:
        a, p = ops.attrs_of(node), node.params
        x = self.g.tensors[node.inputs[0]]
        w = p["weight"]
        oc, kh, kw, cg = w.shape
        c = x.shape[3]
        groups = a.groups
        depthwise = groups == c and cg == 1 and oc % c == 0   # depth multiplier oc / c
        if self.is_mean(node):
            self.mean(node)
            return
        depthwise = depthwise and groups > 1   # else a grouped CONV_2D (filter C/groups deep)
        stride, dil, pad = list(a.stride), list(a.dilation), list(a.padding)
        mode = padding_mode(x.shape[1:3], (kh, kw), stride, dil, pad)
        xin = self.index[x.name]
        if mode is None:
            xin, mode = self.padded_input(node, pad), schema.Padding.VALID
        ws = self.weight_scales(node)
        n = node.name
        if depthwise:
            wt = self.const(f"{n}::weight", np.ascontiguousarray(w.transpose(3, 1, 2, 0)),
                            ws.tolist(), [0] * oc, qdim=3)
        else:
            wt = self.const(f"{n}::weight", w, ws.tolist(), [0] * oc, qdim=0)
        bscale = (np.float64(f32(x.scale)) * ws.astype(np.float64)).tolist()
        bias = self.const(f"{n}::bias", p["bias"], bscale, [0] * oc)

        def emit(out: int, act: int) -> None:
            if depthwise:
                o = schema.DepthwiseConv2DOptionsT()
                o.depthMultiplier = oc // c
                code, kind = Op.DEPTHWISE_CONV_2D, schema.BuiltinOptions.DepthwiseConv2DOptions
            else:
                o = schema.Conv2DOptionsT()
                code, kind = Op.CONV_2D, schema.BuiltinOptions.Conv2DOptions
            o.padding, o.strideH, o.strideW = mode, stride[0], stride[1]
            o.dilationHFactor, o.dilationWFactor = dil
            o.fusedActivationFunction = act
            self.op(code, [xin, wt, bias], [out], kind, o)
        self.emit_then_clamp(node, emit)

    def is_mean(self, node: QNode) -> bool:
        """A unit-weight depthwise conv over the whole (H, W) with MEAN's multiplier: that is
        how the importer writes TFLite's MEAN, so it exports back as one."""
        a, p = ops.attrs_of(node), node.params
        x, y = (self.g.tensors[t] for t in node.inputs + node.outputs)
        if len(x.shape) != 4 or p["weight"].shape != (x.shape[3], x.shape[1], x.shape[2], 1) or \
                a.groups != x.shape[3] or any(a.padding) or (p["weight"] != 1).any() or \
                p["bias"].any() or (a.act_min, a.act_max) != (-128, 127):
            return False
        m, sh = mean_multiplier(x.scale, y.scale, x.shape[1] * x.shape[2])
        return bool((p["multiplier"] == m).all() and (p["shift"] == sh).all())

    def mean(self, node: QNode) -> None:
        o = schema.ReducerOptionsT()
        o.keepDims = True
        self.op(Op.MEAN, [self.index[node.inputs[0]],
                          self.const(f"{node.name}::axes", np.array([1, 2], np.int32))],
                [self.act(self.g.tensors[node.outputs[0]])], schema.BuiltinOptions.ReducerOptions,
                o)

    def fully_connected_single_round(self, node: QNode) -> None:
        """FULLY_CONNECTED: LiteRT rounds it once, as this op does."""
        p, n = node.params, node.name
        oc = p["weight"].shape[0]
        x = self.g.tensors[node.inputs[0]]
        ws = self.weight_scales(node)
        bscale = (np.float64(f32(x.scale)) * ws.astype(np.float64)).tolist()
        wt = self.const(f"{n}::weight", p["weight"], ws.tolist(), [0] * oc)
        bias = self.const(f"{n}::bias", p["bias"], bscale, [0] * oc)

        def emit(out: int, act: int) -> None:
            o = schema.FullyConnectedOptionsT()
            o.fusedActivationFunction = act
            self.op(Op.FULLY_CONNECTED, [self.index[x.name], wt, bias], [out],
                    schema.BuiltinOptions.FullyConnectedOptions, o)
        self.emit_then_clamp(node, emit)

    def fully_connected(self, node: QNode) -> None:
        """RESHAPE + 1x1 CONV_2D + RESHAPE: LiteRT's FULLY_CONNECTED rounds once (x * m), the
        QGraph's fully_connected twice (SRDHM then RDIVPOT), as CONV_2D does."""
        p, n = node.params, node.name
        oc, c = p["weight"].shape
        x = self.g.tensors[node.inputs[0]]
        y = self.g.tensors[node.outputs[0]]
        ws = self.weight_scales(node)
        bscale = (np.float64(f32(x.scale)) * ws.astype(np.float64)).tolist()
        wt = self.const(f"{n}::weight", p["weight"].reshape(oc, 1, 1, c), ws.tolist(), [0] * oc)
        bias = self.const(f"{n}::bias", p["bias"], bscale, [0] * oc)
        x4 = self.tensor(f"{n}::in4d", (1, 1, 1, c), TType.INT8, [f32(x.scale)],
                         [int(x.zero_point)])
        self.reshape_op(self.index[x.name], x4, (1, 1, 1, c), f"{n}::in4d")
        y4 = self.tensor(f"{n}::out4d", (1, 1, 1, oc), TType.INT8, [f32(y.scale)],
                         [int(y.zero_point)])

        def emit(out: int, act: int) -> None:
            o = schema.Conv2DOptionsT()
            o.padding, o.strideH, o.strideW = schema.Padding.VALID, 1, 1
            o.dilationHFactor = o.dilationWFactor = 1
            o.fusedActivationFunction = act
            self.op(Op.CONV_2D, [x4, wt, bias], [y4], schema.BuiltinOptions.Conv2DOptions, o)
            self.reshape_op(y4, out, (1, oc), f"{n}::out2d")
        self.emit_then_clamp(node, emit)

    def add(self, node: QNode) -> None:
        sa, sb, sy = (f32(self.g.tensors[t].scale) for t in node.inputs + node.outputs)
        twice = 2.0 * max(sa, sb)
        ls = ops.attrs_of(node).left_shift
        want = quantize_multipliers(np.array([sa / twice, sb / twice,
                                              twice / ((1 << 20) * sy)]))
        if ls != 20 or any((want[i] != node.params[k]).any() for i, k in
                           enumerate(("multiplier", "shift"))):
            self.inexact.append(f"{node.name}: ADD multipliers differ from TFLite's")

        def emit(out: int, act: int) -> None:
            o = schema.AddOptionsT()
            o.fusedActivationFunction = act
            self.op(Op.ADD, [self.index[t] for t in node.inputs], [out],
                    schema.BuiltinOptions.AddOptions, o)
        self.emit_then_clamp(node, emit)

    def mul(self, node: QNode) -> None:
        sa, sb, sy = (f32(self.g.tensors[t].scale) for t in node.inputs + node.outputs)
        if quantize_multiplier(sa * sb / sy) != (int(node.params["multiplier"][0]),
                                                 int(node.params["shift"][0])):
            self.inexact.append(f"{node.name}: MUL multiplier differs from TFLite's")

        def emit(out: int, act: int) -> None:
            o = schema.MulOptionsT()
            o.fusedActivationFunction = act
            self.op(Op.MUL, [self.index[t] for t in node.inputs], [out],
                    schema.BuiltinOptions.MulOptions, o)
        self.emit_then_clamp(node, emit)

    def lut(self, node: QNode) -> None:
        """TFLite's own op when the table is exactly what that kernel computes (as imported
        tables are); otherwise y = table[x + 128] as CAST (int8 -> int32), ADD 128, GATHER."""
        x = self.g.tensors[node.inputs[0]]
        y = self.g.tensors[node.outputs[0]]
        n = node.name
        fn = ops.attrs_of(node).fn
        fixed_out = {"sigmoid": (1 / 256, -128), "tanh": (1 / 128, 0)}.get(fn)
        if fn in _NATIVE_LUT and (fixed_out is None or fixed_out == (y.scale, y.zero_point)):
            try:
                same = np.array_equal(elementwise_table(fn, x.scale, x.zero_point, y.scale,
                                                        y.zero_point), node.params["table"])
            except ValueError:  # a HARD_SWISH TFLite would reject
                same = False
            if same:
                self.op(_NATIVE_LUT[fn], [self.index[x.name]], [self.act(y)])
                return
        i32 = self.tensor(f"{n}::index", x.shape, TType.INT32)
        self.op(Op.CAST, [self.index[x.name]], [i32], schema.BuiltinOptions.CastOptions,
                schema.CastOptionsT())
        off = self.tensor(f"{n}::offset", x.shape, TType.INT32)
        self.op(Op.ADD, [i32, self.const(f"{n}::128", np.array([128], np.int32))], [off],
                schema.BuiltinOptions.AddOptions, schema.AddOptionsT())
        table = self.const(f"{n}::table", node.params["table"], [f32(y.scale)],
                           [int(y.zero_point)])
        o = schema.GatherOptionsT()
        o.axis = 0
        self.op(Op.GATHER, [table, off], [self.act(y)], schema.BuiltinOptions.GatherOptions, o)

    def avg_pool(self, node: QNode) -> None:
        self.pool(node, Op.AVERAGE_POOL_2D)

    def pool(self, node: QNode, code: int) -> None:
        a = ops.attrs_of(node)
        x = self.g.tensors[node.inputs[0]]
        k, stride = list(a.kernel), list(a.stride)
        mode = padding_mode(x.shape[1:3], k, stride, [1, 1], list(a.padding))
        if mode is None:
            raise EdgembError(f"node '{node.name}' ({node.op}): padding {list(a.padding)} is "
                              f"neither SAME nor VALID in TFLite")

        def emit(out: int, act: int) -> None:
            o = schema.Pool2DOptionsT()
            o.padding, o.strideH, o.strideW = mode, stride[0], stride[1]
            o.filterHeight, o.filterWidth = k
            o.fusedActivationFunction = act
            self.op(code, [self.index[x.name]], [out],
                    schema.BuiltinOptions.Pool2DOptions, o)
        self.emit_then_clamp(node, emit)

    def max_pool(self, node: QNode) -> None:
        self.pool(node, Op.MAX_POOL_2D)

    def reshape_op(self, x: int, y: int, shape: tuple[int, ...], name: str) -> None:
        o = schema.ReshapeOptionsT()
        o.newShape = list(shape)
        self.op(Op.RESHAPE, [x, self.const(f"{name}::shape", np.array(shape, np.int32))], [y],
                schema.BuiltinOptions.ReshapeOptions, o)

    def reshape(self, node: QNode) -> None:
        y = self.g.tensors[node.outputs[0]]
        self.reshape_op(self.index[node.inputs[0]], self.act(y), tuple(y.shape), node.name)

    def concat(self, node: QNode) -> None:
        a = ops.attrs_of(node)
        y = self.g.tensors[node.outputs[0]]
        ins = []
        for i, t in enumerate(node.inputs):
            x = self.g.tensors[t]
            if a.requantizes(i):
                m = quantize_multiplier(f32(x.scale) / f32(y.scale))
                if m != (int(node.params["multiplier"][i]), int(node.params["shift"][i])):
                    self.inexact.append(f"{node.name}: input {i} requantization differs")
                q = self.tensor(f"{node.name}::in{i}", x.shape, TType.INT8, [f32(y.scale)],
                                [int(y.zero_point)])
                self.op(Op.QUANTIZE, [self.index[t]], [q], schema.BuiltinOptions.QuantizeOptions,
                        schema.QuantizeOptionsT())
                ins.append(q)
            else:
                ins.append(self.index[t])
        o = schema.ConcatenationOptionsT()
        o.axis = a.axis
        self.op(Op.CONCATENATION, ins, [self.act(y)],
                schema.BuiltinOptions.ConcatenationOptions, o)

    def resize_bilinear(self, node: QNode) -> None:
        self.inexact.append(f"{node.name}: RESIZE_BILINEAR rounds differently (OPS.md)")
        size = self.const(f"{node.name}::size", np.array(ops.attrs_of(node).size, np.int32))
        o = schema.ResizeBilinearOptionsT()
        o.halfPixelCenters = True
        self.op(Op.RESIZE_BILINEAR, [self.index[node.inputs[0]], size],
                [self.act(self.g.tensors[node.outputs[0]])],
                schema.BuiltinOptions.ResizeBilinearOptions, o)

    def resize_table(self, node: QNode) -> None:
        a = ops.attrs_of(node)
        mode, align, half = a.mode, bool(a.align_corners), bool(a.half_pixel)
        x, y = (self.g.tensors[t] for t in node.inputs + node.outputs)
        (_, h, w, _), (_, oh, ow, _) = x.shape, y.shape
        if not (np.array_equal(resize_table(mode, oh, h, align, half), node.params["rows"]) and
                np.array_equal(resize_table(mode, ow, w, align, half), node.params["cols"])):
            self.inexact.append(f"{node.name}: tables are not TFLite's for {mode}")
        size = self.const(f"{node.name}::size", np.array([oh, ow], np.int32))
        if mode == "nearest":
            o, code, kind = schema.ResizeNearestNeighborOptionsT(), Op.RESIZE_NEAREST_NEIGHBOR, \
                schema.BuiltinOptions.ResizeNearestNeighborOptions
        else:
            o, code, kind = schema.ResizeBilinearOptionsT(), Op.RESIZE_BILINEAR, \
                schema.BuiltinOptions.ResizeBilinearOptions
        o.alignCorners, o.halfPixelCenters = align, half
        self.op(code, [self.index[x.name], size], [self.act(y)], kind, o)

    def softmax(self, node: QNode) -> None:
        self.inexact.append(f"{node.name}: SOFTMAX computes exp differently (OPS.md)")
        o = schema.SoftmaxOptionsT()
        o.beta = 1.0
        self.op(Op.SOFTMAX, [self.index[node.inputs[0]]],
                [self.act(self.g.tensors[node.outputs[0]])],
                schema.BuiltinOptions.SoftmaxOptions, o)

    # -- model -----------------------------------------------------------------------------
    def build(self) -> bytes:
        g = self.g
        for t in g.inputs:
            self.act(g.tensors[t])
        for node in g.nodes:
            fn = getattr(self, node.op, None)
            if fn is None or node.op.startswith("_"):
                raise EdgembError(f"node '{node.name}': op '{node.op}' cannot be exported to "
                                  f"TFLite")
            fn(node)
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = self.tensors, self.ops
        sub.inputs = np.array([self.index[t] for t in g.inputs], np.int32)
        sub.outputs = np.array([self.index[t] for t in g.outputs], np.int32)
        sub.name = str(g.meta.get("arch", "main"))
        info = {"meta": g.meta, "nodes": [n.name for n in g.nodes], "digest": g.digest(),
                "fns": {n.outputs[0]: fn for n in g.nodes
                        if n.op == "lut" and (fn := ops.attrs_of(n).fn)}}
        meta_buf = len(self.buffers)
        self.buffers.append(schema.BufferT(data=np.frombuffer(
            json.dumps(info, sort_keys=True).encode(), np.uint8)))
        model = schema.ModelT()
        model.version = SCHEMA_VERSION
        model.description = "edgemobilenet int8 export"
        model.subgraphs, model.buffers = [sub], self.buffers
        model.metadata = [schema.MetadataT(name=METADATA_NAME, buffer=meta_buf)]
        codes = []
        for code in sorted(self.codes, key=self.codes.get):
            oc = schema.OperatorCodeT()
            oc.builtinCode, oc.version = code, _VERSIONS.get(code, 1)
            oc.deprecatedBuiltinCode = min(code, Op.PLACEHOLDER_FOR_GREATER_OP_CODES)
            codes.append(oc)
        model.operatorCodes = codes
        b = flatbuffers.Builder(1 << 16)
        b.Finish(model.Pack(b), file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())


def to_tflite(g: QGraph) -> ExportResult:
    """The int8 `.tflite` flatbuffer of `g` and the nodes TFLite computes differently."""
    validate(g, "qgraph")
    w = _Writer(g)
    data = w.build()
    return ExportResult(data, w.inexact)


def export_tflite(g: QGraph, path: str | os.PathLike) -> ExportResult:
    """Write `g` as an int8 `.tflite` to `path` atomically."""
    res = to_tflite(g)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(res.data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return res
