"""ONNX model -> FloatGraph (BN folded, ReLU/ReLU6 fused by default).

Reads what torch.onnx, tf2onnx and tflite2onnx write (opsets 11-21): layout ops (Transpose,
Reshape, Flatten, Squeeze, Unsqueeze) become views of float-graph tensors (`onnx_views.py`)
so NHWC<->NCHW pairs fold away; a zero Pad folds into the next Conv; a per-channel constant
Add/Sub/Mul/Div becomes a batch norm that folds into the conv before it. Quantized models
(QuantizeLinear/DequantizeLinear pairs as onnxruntime's `quantize_static` writes them, or its
QLinearConv/QGemm/QLinearAdd/... operators) capture as their dequantized float graph, and the
builder records the file's own scales, zero points and integer weights for
`onnx_qdq_import.py`.

Nodes are named by the layer path recovered from the exporter's scope names
(`/features/features.1/conv/conv.0/Conv` -> `features.1.conv.0`). Shapes are tracked by
running each node in torch at batch 1 as the graph is built.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import onnx_views as views
from edgemobilenet.quant.bn_fold import prepare
from edgemobilenet.quant.capture_onnx_quant import QOPS, QUANT_OPS, QConst, QuantInfo, QuantizedOps
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph, FNode, apply_node
from edgemobilenet.quant.onnx_file import MAX_TENSOR_ELEMENTS, load_onnx, opset, to_array
from edgemobilenet.quant.onnx_views import View

_UNARY = {"Relu": "relu", "HardSwish": "hardswish", "Sigmoid": "sigmoid", "Tanh": "tanh"}
_MODULE_OPS = {"Conv", "Gemm", "BatchNormalization", "Relu", "Clip", "HardSwish", "HardSigmoid",
               "Sigmoid", "Tanh", "MatMul", "GlobalAveragePool", "AveragePool", "Flatten",
               "Softmax", "Resize"}


def _layer_path(node: onnx.NodeProto, fallback: str) -> str:
    name = _text(node.name or fallback)
    levels = [p for p in name.strip("/").split("/") if p]
    if len(levels) < 2:
        return name.strip("/").removesuffix("_quant") or fallback
    segs: list[str] = []
    for p in levels[:-1]:
        if segs and p.startswith(segs[-1] + "."):
            segs[-1] = p
        else:
            segs.append(p)
    path, last = ".".join(segs), levels[-1].removesuffix("_quant")
    op = QOPS.get(node.op_type, node.op_type)
    return path if last == op and op in _MODULE_OPS else f"{path}.{last.lower()}"


def _attrs(node: onnx.NodeProto, where: str) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = to_array(v, where) if isinstance(v, onnx.TensorProto) else v
    return out


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class _OnnxBuilder(QuantizedOps):
    def __init__(self, model: onnx.ModelProto, where: str):
        self.model = model
        self.where = where
        self.opset = opset(model)
        self.consts: dict[str, np.ndarray] = {
            t.name: to_array(t, where) for t in model.graph.initializer}
        self.qconst: dict[str, QConst] = {}
        self.views: dict[str, View] = {}          # onnx activation -> view of a graph tensor
        self.unsigned: dict[str, bool] = {}       # onnx tensors that hold quantized values
        self.value: dict[str, torch.Tensor] = {}  # float graph tensor -> batch-1 value
        self.nodes: list[FNode] = []
        self.names: set[str] = {INPUT}
        self.info = QuantInfo()

    def build(self) -> FloatGraph:
        graph = self.model.graph
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise EdgembError(f"{self.where}: the model has {len(inputs)} inputs; one is supported")
        self._input(inputs[0])
        for i, node in enumerate(graph.node):
            self._node(node, _layer_path(node, node.output[0] if node.output else f"node{i}"))
        outs = [o.name for o in graph.output]
        if len(outs) != 1:
            raise EdgembError(f"{self.where}: the model has {len(outs)} outputs; one is supported")
        if outs[0] not in self.views:
            raise EdgembError(f"{self.where}: output '{outs[0]}' is not computed from the input")
        v = self.views[outs[0]]
        if v.pads:
            raise EdgembError(f"{self.where}: output '{outs[0]}' is a padded tensor")
        g = FloatGraph(self.nodes, v.src, self.input_shape)
        g.meta["onnx_output"] = outs[0]
        g.infer_shapes()
        return g

    def _input(self, inp: onnx.ValueInfoProto) -> None:
        tt = inp.type.tensor_type
        dims = [d.dim_value for d in tt.shape.dim]
        if len(dims) != 4 or not all(d > 0 for d in dims[1:]):
            raise EdgembError(f"{self.where}: input '{inp.name}' must be (N, C, H, W) or "
                              f"(N, H, W, C) with fixed C, H, W; it is {dims}")
        if math.prod(dims[1:]) > MAX_TENSOR_ELEMENTS // 16:
            raise EdgembError(f"{self.where}: input '{inp.name}' of shape {dims} is too large")
        nhwc = self._feeds_nhwc_transpose(inp.name)
        c, h, w = (dims[3], dims[1], dims[2]) if nhwc else (dims[1], dims[2], dims[3])
        self.input_shape = (int(c), int(h), int(w))
        self.value[INPUT] = torch.zeros(1, *self.input_shape)
        fg = (1, *self.input_shape)
        self.views[inp.name] = views.permuted(INPUT, fg, [0, 2, 3, 1]) if nhwc else View(INPUT, fg)
        self.info.input_name, self.info.input_layout = inp.name, "NHWC" if nhwc else "NCHW"
        if tt.elem_type in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8):
            self.unsigned[inp.name] = tt.elem_type == onnx.TensorProto.UINT8
        elif tt.elem_type != onnx.TensorProto.FLOAT:
            raise EdgembError(f"{self.where}: input '{inp.name}' has element type "
                              f"{onnx.TensorProto.DataType.Name(tt.elem_type)}")

    def _feeds_nhwc_transpose(self, name: str) -> bool:
        """True when the input reaches its first compute op only through NHWC->NCHW
        Transposes (looking through Quantize/DequantizeLinear, Identity and Pad)."""
        frontier, seen = [name], 0
        while frontier and seen < 64:
            t = frontier.pop()
            seen += 1
            users = [n for n in self.model.graph.node if t in n.input]
            if not users:
                return False
            for n in users:
                if n.op_type in ("QuantizeLinear", "DequantizeLinear", "Identity", "Pad") \
                        and n.input[0] == t:
                    frontier.extend(n.output[:1])
                elif n.op_type != "Transpose" or \
                        list(_attrs(n, self.where).get("perm", [])) != [0, 3, 1, 2]:
                    return False
        return not frontier

    # helpers --------------------------------------------------------------------------
    def _err(self, path: str, node: onnx.NodeProto, what: str) -> EdgembError:
        return EdgembError(f"{self.where}: layer '{path}' ({node.op_type}): {what}")

    def _const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def _view(self, name: str) -> View:
        if name in self.views:
            return self.views[name]
        if name in self.consts:
            raise ValueError(f"operand '{name}' is a constant where a tensor computed from the "
                             f"input is expected")
        raise ValueError(f"operand '{name}' is not computed before this node")

    def _shape(self, t: str) -> tuple[int, ...]:
        return tuple(self.value[t].shape)

    def _emit(self, path: str, op: str, inputs: list[str], attrs: dict | None = None,
              params: dict | None = None) -> str:
        name, i = path, 1
        while name in self.names:
            name, i = f"{path}_{i}", i + 1
        self.names.add(name)
        fn = FNode(name, op, inputs, attrs or {}, params or {})
        with torch.no_grad():
            y = apply_node(fn, [self.value[t] for t in inputs])
        if y.numel() > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"output of {tuple(y.shape)} elements is too large")
        self.value[name] = y
        self.nodes.append(fn)
        return name

    def _out(self, node: onnx.NodeProto, src: str, shape: tuple[int, ...] | None = None,
             idx: np.ndarray | None = None) -> None:
        """Bind the node's first output to float tensor `src` (its own layout by default)."""
        self.views[node.output[0]] = View(src, shape or self._shape(src), idx)

    def _plain(self, path: str, v: View) -> str:
        """The float tensor whose NCHW layout the ONNX view has (emitting a reshape between
        (N, C) and (N, C, 1, 1) when only the rank differs)."""
        if v.pads:
            raise ValueError("a padded tensor feeds an op other than Conv")
        if v.idx is not None:
            raise ValueError(f"the input is a transposed view {v.shape} of '{v.src}' "
                             f"{self._shape(v.src)}; only transposes that cancel are supported")
        if self._shape(v.src) == v.shape:
            return v.src
        if len(v.shape) == 2:
            return self._emit(path + ".flatten", "flatten", [v.src])
        return self._emit(path + ".reshape", "reshape", [v.src], {"shape": list(v.shape[1:])})

    def _flat2d(self, path: str, v: View) -> tuple[str, np.ndarray | None]:
        """A (1, K) float tensor and the column each ONNX element reads (None: in order)."""
        if v.pads or any(d != 1 for d in v.shape[:-1]):
            raise ValueError(f"only (1, K) inputs are supported, got {v.shape}")
        src = v.src if len(self._shape(v.src)) == 2 else \
            self._emit(path + ".flatten", "flatten", [v.src])
        return src, v.idx

    # conversion -----------------------------------------------------------------------
    def _node(self, node: onnx.NodeProto, path: str) -> None:
        op = node.op_type
        ins = list(node.input)
        try:
            a = _attrs(node, self.where)
            if op == "Constant":
                self.consts[node.output[0]] = self._constant(a)
            elif op in _FOLD and all(self._const(i) is not None for i in ins if i):
                self._fold(node, op, a, ins)
            elif op == "Shape":
                shape = self._view(ins[0]).shape
                self.consts[node.output[0]] = np.array(
                    shape[a.get("start", 0):a.get("end", len(shape))], np.int64)
            elif hasattr(self, "_op_" + op):
                getattr(self, "_op_" + op)(node, path, a, ins)
            else:
                raise self._err(path, node, f"unsupported op {op}")
        except EdgembError:
            raise
        except Exception as e:  # untrusted file: any failure is one line naming the layer
            raise self._err(path, node, str(e).splitlines()[0] if str(e) else type(e).__name__) \
                from None

    @staticmethod
    def _constant(a: dict) -> np.ndarray:
        for k in ("value", "value_float", "value_floats", "value_int", "value_ints"):
            if k in a:
                return np.asarray(a[k])
        raise ValueError("Constant without a tensor value")

    def _fold(self, node: onnx.NodeProto, op: str, a: dict, ins: list[str]) -> None:
        vals = [self._const(i) for i in ins]
        if op == "DequantizeLinear":
            q, s = vals[0], vals[1].astype(np.float64)
            zp = vals[2] if len(vals) > 2 and vals[2] is not None else np.zeros((), q.dtype)
            axis = int(a.get("axis", 1)) % max(q.ndim, 1)
            shp = [1] * q.ndim
            if s.size > 1:
                shp[axis] = -1
            real = (q.astype(np.float64) - zp.astype(np.float64).reshape(shp)) * s.reshape(shp)
            self.qconst[node.output[0]] = QConst(q, s, zp, axis)
            self.consts[node.output[0]] = real.astype(np.float32)
            return
        out = _FOLD[op](a, *[v for v in vals if v is not None])
        if np.size(out) > MAX_TENSOR_ELEMENTS:
            raise ValueError("constant too large")
        self.consts[node.output[0]] = np.asarray(out)

    # layout ops -------------------------------------------------------------------------
    def _op_Identity(self, node, path, a, ins) -> None:
        self.views[node.output[0]] = self._view(ins[0])
        if ins[0] in self.unsigned:
            self.unsigned[node.output[0]] = self.unsigned[ins[0]]

    _op_Dropout = _op_Identity

    def _layout(self, node: onnx.NodeProto, v: View) -> None:
        self.views[node.output[0]] = v
        if node.input[0] in self.unsigned:      # layout ops on quantized data (QOperator)
            self.unsigned[node.output[0]] = self.unsigned[node.input[0]]
            self._link(v, node.output[0], self.unsigned[node.input[0]])

    def _op_Transpose(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        perm = [int(p) for p in a.get("perm", range(len(v.shape) - 1, -1, -1))]
        self._layout(node, views.transpose(v, perm))

    def _op_Reshape(self, node, path, a, ins) -> None:
        spec = self._const(ins[1])
        if spec is None:
            raise ValueError("Reshape needs a constant target shape")
        v = self._view(ins[0])
        shape = views.target_shape(v.shape, [int(d) for d in spec.ravel()],
                                   bool(a.get("allowzero", 0)))
        if shape[:1] != (1,) and len(shape) > 0:
            raise ValueError(f"reshape {v.shape} -> {list(spec)} changes the batch dimension")
        self._layout(node, views.reshape(v, shape))

    def _op_Flatten(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        axis = int(a.get("axis", 1)) % (len(v.shape) + 1)
        self._layout(node, views.reshape(v, (math.prod(v.shape[:axis]),
                                             math.prod(v.shape[axis:]))))

    def _axes(self, a: dict, ins: list[str], rank: int) -> list[int] | None:
        axes = a.get("axes")
        if axes is None and len(ins) > 1 and ins[1]:
            c = self._const(ins[1])
            if c is None:
                raise ValueError("axes must be constant")
            axes = c.ravel().tolist()
        return None if axes is None else sorted(int(x) % rank for x in axes)

    def _op_Squeeze(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        axes = self._axes(a, ins, len(v.shape))
        if axes is None:
            axes = [i for i, d in enumerate(v.shape) if d == 1 and i > 0]
        if any(v.shape[i] != 1 for i in axes):
            raise ValueError(f"squeeze of axes {axes} of {v.shape}")
        self._layout(node, views.reshape(v, tuple(d for i, d in enumerate(v.shape)
                                                  if i not in axes)))

    def _op_Unsqueeze(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        raw = a.get("axes")
        if raw is None:
            c = self._const(ins[1]) if len(ins) > 1 else None
            if c is None:
                raise ValueError("axes must be constant")
            raw = c.ravel().tolist()
        shape = list(v.shape)
        for ax in sorted(int(x) % (len(v.shape) + len(raw)) for x in raw):
            shape.insert(ax, 1)
        self._layout(node, views.reshape(v, tuple(shape)))

    def _op_Pad(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        if _text(a.get("mode", "constant")) != "constant":
            raise ValueError(f"Pad mode {_text(a['mode'])} (only constant zero padding)")
        pads = a.get("pads")
        if pads is None:
            c = self._const(ins[1]) if len(ins) > 1 else None
            if c is None:
                raise ValueError("Pad needs constant pads")
            pads = c.ravel().tolist()
        value = self._const(ins[2]) if len(ins) > 2 and ins[2] else None
        if a.get("value", 0.0) != 0.0 or value is not None and np.any(value != 0):
            raise ValueError("Pad with a non-zero value")
        rank = len(v.shape)
        axes = list(range(rank))
        if len(ins) > 3 and ins[3]:
            axes = [int(x) % rank for x in self._const(ins[3]).ravel()]
        if len(pads) != 2 * len(axes) or any(int(p) < 0 for p in pads):
            raise ValueError(f"pads {pads} for a rank-{rank} tensor")
        old = list(v.pads or [(0, 0)] * rank)
        for k, ax in enumerate(axes):
            old[ax] = (old[ax][0] + int(pads[k]), old[ax][1] + int(pads[k + len(axes)]))
        self.views[node.output[0]] = View(v.src, v.shape, v.idx, tuple(old))

    # elementwise ------------------------------------------------------------------------
    def _unary(self, node, path, op: str, ins: list[str]) -> None:
        v = self._view(ins[0])
        if v.pads:
            raise ValueError("a padded tensor feeds an op other than Conv")
        y = self._emit(path, op, [v.src])
        self.views[node.output[0]] = View(y, v.shape, v.idx)

    def _op_Relu(self, node, path, a, ins) -> None:
        self._unary(node, path, _UNARY[node.op_type], ins)

    _op_Sigmoid = _op_HardSwish = _op_Tanh = _op_Relu

    def _op_Clip(self, node, path, a, ins) -> None:
        lo = self._const(ins[1]) if len(ins) > 1 and ins[1] else a.get("min")
        hi = self._const(ins[2]) if len(ins) > 2 and ins[2] else a.get("max")
        lo = float(lo) if lo is not None and np.size(lo) else -math.inf
        hi = float(hi) if hi is not None and np.size(hi) else math.inf
        if (lo, hi) == (0.0, 6.0):
            self._unary(node, path, "relu6", ins)
        elif (lo, hi) == (0.0, math.inf):
            self._unary(node, path, "relu", ins)
        else:
            raise ValueError(f"Clip({lo}, {hi}) is not supported (only ReLU/ReLU6)")

    def _op_HardSigmoid(self, node, path, a, ins) -> None:
        if not (abs(a.get("alpha", 0.2) - 1 / 6) < 1e-6 and abs(a.get("beta", 0.5) - 0.5) < 1e-6):
            raise ValueError("only HardSigmoid with alpha 1/6, beta 0.5 (torch's)")
        self._unary(node, path, "hardsigmoid", ins)

    def _op_Add(self, node, path, a, ins) -> None:
        self._arith(node, path, node.op_type, ins)

    _op_Sub = _op_Mul = _op_Div = _op_Add

    def _arith(self, node, path, op: str, ins: list[str]) -> None:
        consts = [self._const(i) for i in ins]
        if consts[0] is None and consts[1] is None and op in ("Add", "Mul"):
            self._binary(node, path, op, self._view(ins[0]), self._view(ins[1]))
            return
        if consts[0] is not None and consts[1] is not None or op not in ("Add", "Sub", "Mul",
                                                                          "Div"):
            raise ValueError(f"{op} of two computed tensors is not supported")
        k = 1 if consts[1] is not None else 0
        c, v = consts[k].astype(np.float64), self._view(ins[1 - k])
        if op in ("Add", "Sub") and self._fold_bias(node, v, c if op == "Add" or k == 0 else -c,
                                                    negate_x=op == "Sub" and k == 0):
            return
        self._affine(node, path, op, v, c, const_first=k == 0)

    def _fold_bias(self, node: onnx.NodeProto, v: View, c: np.ndarray, negate_x: bool) -> bool:
        """MatMul + Add(constant) -> the linear layer's bias."""
        prod = self.nodes[-1] if self.nodes else None
        if negate_x or prod is None or prod.op != "linear" or v.src != prod.name or \
                v.idx is not None or c.size != prod.params["bias"].numel() or \
                len(c.shape) > 1 and any(d != 1 for d in c.shape[:-1]):
            return False
        b = torch.from_numpy(c.reshape(-1).astype(np.float32))
        prod.params["bias"] = prod.params["bias"] + b
        self.value[prod.name] = self.value[prod.name] + b
        self.views[node.output[0]] = v
        return True

    def _affine(self, node, path, op: str, v: View, c: np.ndarray, const_first: bool) -> None:
        """x op constant, the constant one value per channel -> batch_norm (folded later)."""
        fg = self._shape(v.src)
        if v.pads or len(fg) not in (2, 4):
            raise ValueError(f"{op} with a constant on a {v.shape} tensor")
        out = np.broadcast_shapes(v.shape, c.shape)
        if out != v.shape:
            raise ValueError(f"{op} with a constant broadcasts {v.shape} to {out}")
        per = np.empty(math.prod(fg))
        per[v.flat()] = np.broadcast_to(c, v.shape).ravel()
        per = per.reshape(fg[0], fg[1], -1)
        if not (per == per[:, :, :1]).all():
            raise ValueError(f"{op} with a constant that is not one value per channel")
        k = per[0, :, 0]
        if op == "Add":
            scale, shift = np.ones_like(k), k
        elif op == "Sub":
            scale, shift = (-np.ones_like(k), k) if const_first else (np.ones_like(k), -k)
        elif op == "Mul":
            scale, shift = k, np.zeros_like(k)
        elif const_first:
            raise ValueError("division by a computed tensor is not supported")
        else:
            scale, shift = 1.0 / k, np.zeros_like(k)
        y = self._emit(path, "batch_norm", [v.src], {},
                       {"scale": torch.from_numpy(scale.astype(np.float32)),
                        "shift": torch.from_numpy(shift.astype(np.float32))})
        self.views[node.output[0]] = View(y, v.shape, v.idx)

    def _binary(self, node, path, op: str, va: View, vb: View) -> None:
        if va.pads or vb.pads:
            raise ValueError("a padded tensor feeds an op other than Conv")
        if math.prod(vb.shape) > math.prod(va.shape):
            va, vb = vb, va
        sa, sb = self._shape(va.src), self._shape(vb.src)
        ia, ib, out = views.broadcast_pairs(va, vb)
        if out != va.shape:
            raise ValueError(f"{op.lower()} of shapes {va.shape} and {vb.shape}")
        if sa == sb:
            ok = np.array_equal(ia, ib)
        elif op == "Mul" and len(sa) == 4 and sb in ((1, sa[1], 1, 1), (1, sa[1])):
            ok = np.array_equal(ib, ia // (sa[2] * sa[3]))   # a per-channel gate
        else:
            ok = False
        if not ok:
            raise ValueError(f"{op.lower()} of {va.shape} and {vb.shape} pairs elements the "
                             f"float graph cannot ({sa} and {sb})")
        y = self._emit(path, op.lower(), [va.src, vb.src], {"act": "none"} if op == "Add" else {})
        self.views[node.output[0]] = View(y, va.shape, va.idx)

    # compute ops ------------------------------------------------------------------------
    def _op_Conv(self, node, path, a, ins) -> None:
        self._conv(node, path, a, self._view(ins[0]), self._const(ins[1]),
                   self._const(ins[2]) if len(ins) > 2 and ins[2] else None)
        self._weights_from_file(path, ins[1], ins[2] if len(ins) > 2 else "", 0)

    def _conv(self, node, path, a, v: View, w: np.ndarray | None, b: np.ndarray | None) -> None:
        if w is None or w.ndim != 4:
            raise ValueError("only 2-D convolutions with constant weights")
        extra = [0, 0, 0, 0]
        if v.pads:
            p = v.pads
            if len(p) != 4 or p[0] != (0, 0) or p[1] != (0, 0):
                raise ValueError(f"Pad {p} before a Conv pads more than H and W")
            extra = [p[2][0], p[3][0], p[2][1], p[3][1]]
            v = View(v.src, v.shape, v.idx)
        x = self._plain(path, v)
        k = list(w.shape[2:])
        dil = [int(d) for d in a.get("dilations", [1, 1])]
        stride = [int(s) for s in a.get("strides", [1, 1])]
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        auto = _text(a.get("auto_pad", "NOTSET"))
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            h, wd = self._shape(x)[2] + extra[0] + extra[2], self._shape(x)[3] + extra[1] + extra[3]
            pads = [0, 0, 0, 0]
            for i, n in enumerate((h, wd)):
                out = -(-n // stride[i])
                tot = max(0, (out - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 - n)
                small, big = tot // 2, tot - tot // 2
                pads[i], pads[i + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        if len(pads) != 4 or any(p < 0 for p in pads) or min(stride + dil) < 1:
            raise ValueError(f"pads {pads}, strides {stride}, dilations {dil}")
        pads = [p + e for p, e in zip(pads, extra)]
        _, c, h, wd = self._shape(x)
        if c * (h + pads[0] + pads[2]) * (wd + pads[1] + pads[3]) > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"padding {pads} of a {self._shape(x)} input is too large")
        y = self._emit(path, "conv2d", [x], {
            "stride": stride, "padding": pads, "dilation": dil, "groups": int(a.get("group", 1)),
            "act": "none"},
            {"weight": torch.from_numpy(w.astype(np.float32).copy()),
             "bias": torch.from_numpy(b.astype(np.float32).reshape(-1).copy()) if b is not None
             else torch.zeros(w.shape[0])})
        self._out(node, y)

    def _linear(self, node, path, v: View, w: np.ndarray, bias: np.ndarray | None) -> str:
        """x (1, K) @ w.T for w (OC, K) in ONNX column order, folding the view's permutation."""
        x, idx = self._flat2d(path, v)
        if w.shape[1] != self._shape(x)[1]:
            raise ValueError(f"weight {w.shape} for an input of {v.shape}")
        if idx is not None:
            wf = np.empty_like(w)
            wf[:, idx] = w
            w = wf
        b = np.zeros(w.shape[0]) if bias is None else np.broadcast_to(bias, (w.shape[0],))
        y = self._emit(path, "linear", [x], {"act": "none"},
                       {"weight": torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)),
                        "bias": torch.from_numpy(np.array(b, dtype=np.float32))})
        self._out(node, y, v.shape[:-1] + (w.shape[0],))
        return y

    def _op_Gemm(self, node, path, a, ins) -> None:
        w = self._const(ins[1])
        if w is None or w.ndim != 2 or a.get("transA", 0):
            raise ValueError("Gemm needs a constant 2-D B and transA=0")
        w = (w if a.get("transB", 0) else w.T) * float(a.get("alpha", 1.0))
        c = self._const(ins[2]) if len(ins) > 2 and ins[2] else None
        self._linear(node, path, self._view(ins[0]), w,
                     None if c is None else c.reshape(-1) * float(a.get("beta", 1.0)))
        self._weights_from_file(path, ins[1], ins[2] if len(ins) > 2 else "",
                                0 if a.get("transB", 0) else 1)

    def _op_MatMul(self, node, path, a, ins) -> None:
        w = self._const(ins[1])
        if w is None or w.ndim != 2:
            raise ValueError("only (1, K) x constant (K, M) is supported")
        self._linear(node, path, self._view(ins[0]), w.T, None)
        self._weights_from_file(path, ins[1], "", 1)

    def _op_BatchNormalization(self, node, path, a, ins) -> None:
        x = self._plain(path, self._view(ins[0]))
        sc, b, mean, var = (torch.from_numpy(self._const(i).astype(np.float32))
                            for i in ins[1:5])
        scale = sc / torch.sqrt(var + float(a.get("epsilon", 1e-5)))
        self._out(node, self._emit(path, "batch_norm", [x], {},
                                   {"scale": scale, "shift": b - mean * scale}))

    def _op_GlobalAveragePool(self, node, path, a, ins) -> None:
        x = self._plain(path, self._view(ins[0]))
        if len(self._shape(x)) != 4:
            raise ValueError("GlobalAveragePool needs a 4-D input")
        self._out(node, self._emit(path, "avg_pool", [x], {"global": 1}))

    def _op_AveragePool(self, node, path, a, ins) -> None:
        if a.get("ceil_mode", 0) or (a.get("count_include_pad", 0) and any(a.get("pads", []))):
            raise ValueError("ceil_mode / padded count_include_pad unsupported")
        if _text(a.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
            raise ValueError("AveragePool with auto_pad SAME is not supported")
        x = self._plain(path, self._view(ins[0]))
        k = [int(i) for i in a["kernel_shape"]]
        p = [int(i) for i in a.get("pads", [0, 0, 0, 0])]
        if len(k) != 2 or len(p) != 4 or any(not 0 <= v < kk for v, kk in zip(p, k + k)):
            raise ValueError(f"pooling kernel {k} with pads {p}")
        self._out(node, self._emit(path, "avg_pool", [x], {
            "kernel": k, "stride": [int(s) for s in a.get("strides", k)], "padding": p}))

    def _op_ReduceMean(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        axes = self._axes(a, ins, len(v.shape))
        if axes is None:
            if a.get("noop_with_empty_axes", 0):
                raise ValueError("ReduceMean with no axes and noop_with_empty_axes")
            axes = list(range(len(v.shape)))
        self._mean(node, path, v, axes, bool(a.get("keepdims", 1)))

    def _mean(self, node, path, v: View, axes: list[int], keepdims: bool) -> None:
        fg = self._shape(v.src)
        chans = views.channel_groups(v, axes, fg)
        if chans is None:
            raise ValueError(f"ReduceMean over axes {axes} of {v.shape} is not a mean over H "
                             f"and W of the (N, C, H, W) tensor {fg}")
        y = self._emit(path, "avg_pool", [v.src], {"global": 1})
        shape = tuple(1 if i in axes else d for i, d in enumerate(v.shape) if keepdims or
                      i not in axes)
        self._out(node, y, shape, views.norm(chans.astype(np.int64)))

    def _op_Softmax(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        rank = len(v.shape)
        axis = int(a.get("axis", -1 if self.opset >= 13 else 1)) % rank
        rest = [d for i, d in enumerate(v.shape) if (i != axis if self.opset >= 13 else i < axis)]
        if math.prod(rest) != 1 or v.pads:
            raise ValueError(f"softmax over axis {axis} of {v.shape} (only over all classes)")
        fg = self._shape(v.src)
        if len(fg) == 4 and fg[2] * fg[3] != 1:
            raise ValueError(f"softmax over a feature map {fg}")
        x = v.src if len(fg) == 2 else self._emit(path + ".flatten", "flatten", [v.src])
        self._out(node, self._emit(path, "softmax", [x]), v.shape, v.idx)

    def _op_Concat(self, node, path, a, ins) -> None:
        vs = [self._view(i) for i in ins]
        rank = len(vs[0].shape)
        axis = int(a["axis"]) % rank
        perms = [views.perm_of(v, self._shape(v.src)) for v in vs]
        if any(p is None or p != perms[0] for p in perms):
            raise ValueError("concatenated tensors are in different layouts")
        p = perms[0]
        y = self._emit(path, "concat", [v.src for v in vs], {"axis": p[axis]})
        self.views[node.output[0]] = views.permuted(y, self._shape(y), p)

    def _op_Resize(self, node, path, a, ins) -> None:
        mode, ctm = _text(a.get("mode", "nearest")), _text(a.get("coordinate_transformation_mode",
                                                                 "half_pixel"))
        if mode != "linear" or ctm not in ("half_pixel", "pytorch_half_pixel"):
            raise ValueError(f"Resize mode {mode} / {ctm} (only bilinear half-pixel)")
        x = self._plain(path, self._view(ins[0]))
        h, w = self._shape(x)[2:]
        sizes = self._const(ins[3]) if len(ins) > 3 and ins[3] else None
        scales = self._const(ins[2]) if len(ins) > 2 and ins[2] else None
        if sizes is not None and sizes.size == 4:
            size = [int(sizes[2]), int(sizes[3])]
        elif scales is not None and scales.size == 4:
            size = [int(math.floor(h * scales[2])), int(math.floor(w * scales[3]))]
        else:
            raise ValueError("Resize needs constant scales or sizes")
        if not 0 < size[0] * size[1] <= MAX_TENSOR_ELEMENTS // max(1, self._shape(x)[1]):
            raise ValueError(f"Resize to {size}")
        self._out(node, self._emit(path, "resize_bilinear", [x], {"size": size}))


def _unsqueeze(a: dict, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    for ax in sorted(int(i) % (x.ndim + 1) for i in (axes if axes is not None else a["axes"])):
        x = np.expand_dims(x, ax)
    return x


def _squeeze(a: dict, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    axes = axes if axes is not None else a.get("axes")
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(int(i) for i in axes))


def _reshape(a: dict, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return x.reshape(views.target_shape(x.shape, [int(d) for d in shape.ravel()],
                                        bool(a.get("allowzero", 0))))


_FOLD = {  # constant folding: shape arithmetic, layout changes and scaling of constants
    "Gather": lambda a, x, i: np.take(x, i, axis=a.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda a, *xs: np.concatenate([np.atleast_1d(x) for x in xs], a["axis"]),
    "Cast": lambda a, x: x,
    "Identity": lambda a, x: x,
    "Transpose": lambda a, x: np.transpose(x, a.get("perm")),
    "Reshape": _reshape,
    "Flatten": lambda a, x: x.reshape(math.prod(x.shape[:a.get("axis", 1)]), -1),
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: x / y,
    "Shape": lambda a, x: np.array(x.shape, np.int64),
    "Slice": lambda a, x, starts, ends, axes=None, steps=None: x[tuple(
        _slices(x.ndim, starts, ends, axes, steps))],
    "DequantizeLinear": None,   # handled in _fold: keeps the integer values as a QConst
}


def _slices(rank: int, starts, ends, axes, steps) -> list[slice]:
    out = [slice(None)] * rank
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for s, e, ax, st in zip(starts, ends, axes, steps):
        out[int(ax) % rank] = slice(int(s), int(e), int(st))
    return out


def _is_affine(n: FNode, scale: float, shift: float) -> bool:
    return n.op == "batch_norm" and bool(torch.allclose(
        n.params["scale"], torch.full_like(n.params["scale"], scale), atol=1e-6)) and \
        bool(torch.allclose(n.params["shift"], torch.full_like(n.params["shift"], shift),
                            atol=1e-6))


def fuse_hard_activations(g: FloatGraph) -> FloatGraph:
    """Keras' spelled-out h-sigmoid relu6(x + 3) / 6 (tf2onnx: Add, Clip/Relu6, Mul) becomes
    one hardsigmoid, and x * hardsigmoid(x) one hardswish (one table each in int8)."""
    def sole(t: str) -> FNode | None:
        users = g.consumers(t)
        return users[0] if len(users) == 1 and t != g.output else None

    for add in [n for n in g.nodes if _is_affine(n, 1.0, 3.0)]:
        relu6 = sole(add.name)
        div = sole(relu6.name) if relu6 is not None and relu6.op == "relu6" else None
        if div is None or not _is_affine(div, 1.0 / 6.0, 0.0):
            continue
        x = add.inputs[0]
        g.nodes.remove(add)
        g.nodes.remove(relu6)
        div.op, div.inputs, div.params = "hardsigmoid", [x], {}
        mul = sole(div.name)
        if mul is not None and mul.op == "mul" and sorted(mul.inputs) == sorted([x, div.name]):
            g.nodes.remove(div)
            mul.op, mul.inputs, mul.attrs = "hardswish", [x], {}
    return g


def is_quantized(model: onnx.ModelProto) -> bool:
    """True for models with QuantizeLinear/DequantizeLinear or QLinear* operators."""
    return any(n.op_type in QUANT_OPS for n in model.graph.node)


def capture_onnx_model(model: onnx.ModelProto, where: str) -> tuple[FloatGraph, QuantInfo]:
    """The float graph of a parsed model (nothing folded) and what a quantized file fixes."""
    b = _OnnxBuilder(model, where)
    try:
        g = b.build()
    except EdgembError:
        raise
    except Exception as e:  # damage outside any one node (graph inputs, outputs, initializers)
        raise EdgembError(f"{where}: malformed ONNX model ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    g.meta["source"] = where
    g.meta["onnx_input_layout"] = b.info.input_layout
    return g, b.info


def capture_onnx(path: str | Path, fold: bool = True) -> FloatGraph:
    """Read an ONNX model file into a FloatGraph (a quantized file: its dequantized graph)."""
    g, _ = capture_onnx_model(load_onnx(path), str(path))
    return prepare(fuse_hard_activations(g)) if fold else g
