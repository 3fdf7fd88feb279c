"""QGraph -> ONNX in QDQ form (int8 in, int8 out), for onnxruntime and other ONNX tools.

Every node becomes DequantizeLinear -> float op -> QuantizeLinear, which onnxruntime fuses
into its integer kernels (QLinearConv, QLinearAdd, ...). Activations are NCHW inside the
ONNX graph; graph inputs and outputs keep the QGraph's NHWC layout and names, with int8
Transposes at the boundary. Weights are per-channel (DequantizeLinear axis=0), biases int32
at scale s_in * w_scale. Results match the reference executor within rounding (1 LSB per
node): ONNX requantizes in float, the QGraph in fixed point.

onnxruntime on x86 fuses int8-activation QDQ into QLinearConv / QLinearAdd / QGemm ... only
with the session option `session.qdqisint8allowed=1` (on ARM that is the default); without
it the model still runs, as float ops between Q/DQ pairs.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor, validate

OPSET = 17
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class _Exporter:
    def __init__(self, g: QGraph):
        self.g = g
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.uses: dict[str, int] = {}

    # -- naming and constants -----------------------------------------------------------
    @staticmethod
    def q(t: str) -> str:
        """The int8 ONNX value of QGraph tensor `t` (NCHW when 4-D)."""
        return f"{t}::q"

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def add(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def qparams(self, t: QTensor) -> list[str]:
        scale, zp = f"{t.name}::scale", f"{t.name}::zp"
        if not any(i.name == scale for i in self.inits):
            self.const(scale, np.array(t.scale, np.float32))
            self.const(zp, np.array(t.zero_point, np.int8))
        return [scale, zp]

    def dq(self, t: str) -> str:
        """A DequantizeLinear of tensor `t` for one consumer (one DQ per consumer)."""
        k = self.uses[t] = self.uses.get(t, 0) + 1
        return self.add("DequantizeLinear", [self.q(t)] + self.qparams(self.g.tensors[t]),
                        f"{t}::dq{k}", f"{t}::dq{k}")

    def quant(self, y: str, node: QNode) -> None:
        """Activation clamp (folded ReLU/ReLU6), then QuantizeLinear into the node's output."""
        t = self.g.tensors[node.outputs[0]]
        act = ops.activation(node)
        lo, hi = act.act_min, act.act_max
        if lo == t.zero_point and hi == 127:
            y = self.add("Relu", [y], f"{node.name}::relu", f"{node.name}::relu")
        elif lo > -128 or hi < 127:
            bounds = [self.const(f"{node.name}::clip_{k}", np.array(t.scale * (v - t.zero_point),
                                                                     np.float32))
                      for k, v in (("lo", lo), ("hi", hi))]
            y = self.add("Clip", [y] + bounds, f"{node.name}::clip", f"{node.name}::clip")
        self.add("QuantizeLinear", [y] + self.qparams(t), self.q(t.name), f"{node.name}::q")

    def weight_dq(self, node: QNode, w: np.ndarray) -> tuple[str, str]:
        """Per-channel DequantizeLinear of the weight and the int32 bias."""
        p, s_in = node.params, self.g.tensors[node.inputs[0]].scale
        w_scale = p["w_scale"].astype(np.float64) if "w_scale" in p else self._w_scale(node)
        oc = w.shape[0]
        n = node.name
        wq = self.add("DequantizeLinear", [self.const(f"{n}::w", w),
                                           self.const(f"{n}::w_scale", w_scale.astype(np.float32)),
                                           self.const(f"{n}::w_zp", np.zeros(oc, np.int8))],
                      f"{n}::w_dq", f"{n}::w_dq", axis=0)
        bq = self.add("DequantizeLinear", [self.const(f"{n}::b", p["bias"]),
                                           self.const(f"{n}::b_scale",
                                                      (s_in * w_scale).astype(np.float32)),
                                           self.const(f"{n}::b_zp", np.zeros(oc, np.int32))],
                      f"{n}::b_dq", f"{n}::b_dq", axis=0)
        return wq, bq

    def _w_scale(self, node: QNode) -> np.ndarray:
        """Weight scales recovered from multiplier/shift when `w_scale` is absent."""
        p = node.params
        real = p["multiplier"].astype(np.float64) * np.exp2(p["shift"].astype(np.float64) - 31)
        return real * self.g.tensors[node.outputs[0]].scale / self.g.tensors[node.inputs[0]].scale

    # -- ops ------------------------------------------------------------------------------
    def conv2d(self, node: QNode) -> None:
        a = ops.attrs_of(node)
        w_oihw = np.ascontiguousarray(node.params["weight"].transpose(0, 3, 1, 2))
        wq, bq = self.weight_dq(node, w_oihw)
        kh, kw = node.params["weight"].shape[1:3]
        y = self.add("Conv", [self.dq(node.inputs[0]), wq, bq], f"{node.name}::conv", node.name,
                     kernel_shape=[kh, kw], strides=list(a.stride), pads=list(a.padding),
                     dilations=list(a.dilation), group=a.groups)
        self.quant(y, node)

    def fully_connected(self, node: QNode) -> None:
        wq, bq = self.weight_dq(node, node.params["weight"])
        self.quant(self.add("Gemm", [self.dq(node.inputs[0]), wq, bq], f"{node.name}::gemm",
                            node.name, transB=1), node)

    def _binary(self, node: QNode, op: str) -> None:
        a, b = (self.dq(t) for t in node.inputs)
        self.quant(self.add(op, [a, b], f"{node.name}::{op}", node.name), node)

    def lut(self, node: QNode) -> None:
        fn, x, n = ops.attrs_of(node).fn, self.dq(node.inputs[0]), node.name
        if fn in ("hardswish", "hardsigmoid", "sigmoid", "relu", "tanh"):
            op = {"hardswish": "HardSwish", "hardsigmoid": "HardSigmoid", "sigmoid": "Sigmoid",
                  "relu": "Relu", "tanh": "Tanh"}[fn]
            attrs = {"alpha": 1 / 6, "beta": 0.5} if fn == "hardsigmoid" else {}
            y = self.add(op, [x], f"{n}::{op}", n, **attrs)
        elif fn == "requantize":          # a table that only changes scale: DQ then Q
            y = x
        elif fn == "relu6":
            y = self.add("Clip", [x, self.const(f"{n}::lo", np.array(0, np.float32)),
                                  self.const(f"{n}::hi", np.array(6, np.float32))], f"{n}::clip", n)
        else:
            raise EdgembError(f"node '{n}' (lut): function {fn!r} cannot be exported to ONNX")
        self.quant(y, node)

    def avg_pool(self, node: QNode) -> None:
        a, x = ops.attrs_of(node), self.dq(node.inputs[0])
        _, h, w, _ = self.g.tensors[node.inputs[0]].shape
        pads = list(a.padding)
        if list(a.kernel) == [h, w] and not any(pads):
            y = self.add("GlobalAveragePool", [x], f"{node.name}::pool", node.name)
        else:
            y = self.add("AveragePool", [x], f"{node.name}::pool", node.name,
                         kernel_shape=list(a.kernel), strides=list(a.stride), pads=pads,
                         count_include_pad=0)
        self.quant(y, node)

    def max_pool(self, node: QNode) -> None:
        """On the int8 values (exact: max commutes with the monotonic dequantization)."""
        a = ops.attrs_of(node)
        y = self.add("MaxPool", [self.q(node.inputs[0])], f"{node.name}::pool", node.name,
                     kernel_shape=list(a.kernel), strides=list(a.stride), pads=list(a.padding))
        t = self.g.tensors[node.outputs[0]]
        lo, hi = a.act_min, a.act_max
        if (lo, hi) == (-128, 127):
            self.add("Identity", [y], self.q(t.name), f"{node.name}::out")
            return
        self.add("Clip", [y, self.const(f"{node.name}::lo", np.array(lo, np.int8)),
                          self.const(f"{node.name}::hi", np.array(hi, np.int8))],
                 self.q(t.name), f"{node.name}::clip")

    def reshape(self, node: QNode) -> None:
        """Exact relabelling of NHWC data, done on the int8 values."""
        x = self.q(node.inputs[0])
        n = node.name
        if len(self.g.tensors[node.inputs[0]].shape) == 4:
            x = self.add("Transpose", [x], f"{n}::nhwc", f"{n}::nhwc", perm=_TO_NHWC)
        out = self.g.tensors[node.outputs[0]]
        shape = self.const(f"{n}::shape", np.array(out.shape, np.int64))
        if len(out.shape) == 4:
            y = self.add("Reshape", [x, shape], f"{n}::reshaped", n)
            self.add("Transpose", [y], self.q(out.name), f"{n}::nchw", perm=_TO_NCHW)
        else:
            self.add("Reshape", [x, shape], self.q(out.name), n)

    def concat(self, node: QNode) -> None:
        rank = len(self.g.tensors[node.outputs[0]].shape)
        axis = ops.attrs_of(node).axis % rank
        axis = _NHWC_TO_NCHW_AXIS[axis] if rank == 4 else axis
        xs = [self.dq(t) for t in node.inputs]
        self.quant(self.add("Concat", xs, f"{node.name}::concat", node.name, axis=axis), node)

    def resize_bilinear(self, node: QNode) -> None:
        oh, ow = ops.attrs_of(node).size
        c = self.g.tensors[node.inputs[0]].shape[3]
        sizes = self.const(f"{node.name}::sizes", np.array([1, c, oh, ow], np.int64))
        y = self.add("Resize", [self.dq(node.inputs[0]), "", "", sizes], f"{node.name}::resize",
                     node.name, mode="linear", coordinate_transformation_mode="half_pixel")
        self.quant(y, node)

    def softmax(self, node: QNode) -> None:
        self.quant(self.add("Softmax", [self.dq(node.inputs[0])], f"{node.name}::softmax",
                            node.name, axis=-1), node)

    # -- whole graph ------------------------------------------------------------------------
    def build(self) -> onnx.ModelProto:
        g = self.g
        ins, outs = [], []
        for t in g.inputs:
            shape = list(g.tensors[t].shape)
            ins.append(helper.make_tensor_value_info(t, TensorProto.INT8, shape))
            if len(shape) == 4:
                self.add("Transpose", [t], self.q(t), f"{t}::nchw", perm=_TO_NCHW)
            else:
                self.add("Identity", [t], self.q(t), f"{t}::in")
        ops = {"conv2d": self.conv2d, "fully_connected": self.fully_connected,
               "fully_connected_single_round": self.fully_connected,
               "add": lambda n: self._binary(n, "Add"), "mul": lambda n: self._binary(n, "Mul"),
               "lut": self.lut, "avg_pool": self.avg_pool, "max_pool": self.max_pool,
               "reshape": self.reshape,
               "concat": self.concat, "resize_bilinear": self.resize_bilinear,
               "softmax": self.softmax}
        for node in g.nodes:
            if node.op not in ops:
                raise EdgembError(f"node '{node.name}': op '{node.op}' cannot be exported to ONNX")
            ops[node.op](node)
        for t in g.outputs:
            shape = list(g.tensors[t].shape)
            outs.append(helper.make_tensor_value_info(t, TensorProto.INT8, shape))
            if len(shape) == 4:
                self.add("Transpose", [self.q(t)], t, f"{t}::nhwc", perm=_TO_NHWC)
            else:
                self.add("Identity", [self.q(t)], t, f"{t}::out")
        graph = helper.make_graph(self.nodes, str(g.meta.get("arch", "qgraph")), ins, outs,
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="edgemobilenet")
        model.ir_version = 8  # readable by every onnxruntime that has opset 17
        helper.set_model_props(model, {**{f"edgemb.{k}": str(v) for k, v in g.meta.items()},
                                       "edgemb.qgraph_digest": g.digest()})
        onnx.checker.check_model(model)
        return model


def to_onnx(g: QGraph) -> onnx.ModelProto:
    """The QDQ ONNX model of `g` (checked with onnx.checker)."""
    validate(g, "qgraph")
    return _Exporter(g).build()


def export_qdq(g: QGraph, path: str | os.PathLike) -> None:
    """Write `g` as a QDQ ONNX model to `path` atomically."""
    path = Path(path)
    data = to_onnx(g).SerializeToString()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
