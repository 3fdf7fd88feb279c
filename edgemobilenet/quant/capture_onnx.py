"""Float ONNX model -> FloatGraph (BN folded, ReLU/ReLU6 fused by default).

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
from onnx import numpy_helper

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.bn_fold import prepare
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph, FNode, apply_node

_UNARY = {"Relu": "relu", "HardSwish": "hardswish", "Sigmoid": "sigmoid", "Tanh": "tanh"}
_MODULE_OPS = {"Conv", "Gemm", "BatchNormalization", "Relu", "Clip", "HardSwish", "HardSigmoid",
               "Sigmoid", "Tanh", "MatMul", "GlobalAveragePool", "AveragePool", "Flatten",
               "Softmax", "Resize"}


def _layer_path(node: onnx.NodeProto, fallback: str) -> str:
    name = node.name or fallback
    levels = [p for p in name.strip("/").split("/") if p]
    if len(levels) < 2:
        return name.strip("/") or fallback
    segs: list[str] = []
    for p in levels[:-1]:
        if segs and p.startswith(segs[-1] + "."):
            segs[-1] = p
        else:
            segs.append(p)
    path, last = ".".join(segs), levels[-1]
    return path if last == node.op_type and node.op_type in _MODULE_OPS else f"{path}.{last.lower()}"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _OnnxBuilder:
    def __init__(self, model: onnx.ModelProto, where: str):
        self.model = model
        self.where = where
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.tensor: dict[str, str] = {}      # onnx tensor name -> float graph tensor
        self.value: dict[str, torch.Tensor] = {}  # float graph tensor -> batch-1 value
        self.nodes: list[FNode] = []
        self.names: set[str] = {INPUT}

    def build(self) -> FloatGraph:
        inputs = [i for i in self.model.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise EdgembError(f"{self.where}: the model has {len(inputs)} inputs; one is supported")
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or not all(dims[1:]):
            raise EdgembError(f"{self.where}: input '{inputs[0].name}' must be (N, C, H, W) with "
                              f"fixed C, H, W; it is {dims}")
        shape = (int(dims[1]), int(dims[2]), int(dims[3]))
        self.tensor[inputs[0].name] = INPUT
        self.value[INPUT] = torch.zeros(1, *shape)
        for i, node in enumerate(self.model.graph.node):
            self._node(node, _layer_path(node, node.output[0] if node.output else f"node{i}"))
        outs = [o.name for o in self.model.graph.output]
        if len(outs) != 1:
            raise EdgembError(f"{self.where}: the model has {len(outs)} outputs; one is supported")
        g = FloatGraph(self.nodes, self.tensor[outs[0]], shape)
        g.infer_shapes()
        return g

    # helpers --------------------------------------------------------------------------
    def _err(self, path: str, node: onnx.NodeProto, what: str) -> EdgembError:
        return EdgembError(f"{self.where}: layer '{path}' ({node.op_type}): {what}")

    def _const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def _in(self, path: str, node: onnx.NodeProto, name: str) -> str:
        if name in self.tensor:
            return self.tensor[name]
        raise self._err(path, node, f"operand '{name}' is a constant or unknown tensor "
                                    f"(operations with constants are not supported)")

    def _emit(self, path: str, node: onnx.NodeProto, op: str, inputs: list[str],
              attrs: dict | None = None, params: dict | None = None) -> str:
        name, i = path, 1
        while name in self.names:
            name, i = f"{path}_{i}", i + 1
        self.names.add(name)
        fn = FNode(name, op, inputs, attrs or {}, params or {})
        with torch.no_grad():
            self.value[name] = apply_node(fn, [self.value[t] for t in inputs])
        self.nodes.append(fn)
        self.tensor[node.output[0]] = name
        return name

    def _shape(self, t: str) -> tuple[int, ...]:
        return tuple(self.value[t].shape)

    # conversion -----------------------------------------------------------------------
    def _node(self, node: onnx.NodeProto, path: str) -> None:
        op, a = node.op_type, _attrs(node)
        ins = list(node.input)
        if op == "Constant":
            self.consts[node.output[0]] = numpy_helper.to_array(a["value"])
            return
        if all(self._const(i) is not None for i in ins if i) and op in _FOLD:
            self.consts[node.output[0]] = _FOLD[op](a, *[self._const(i) for i in ins if i])
            return
        if op == "Shape":
            self.consts[node.output[0]] = np.array(self._shape(self._in(path, node, ins[0])))
            return
        if op in ("Identity", "Dropout"):
            self.tensor[node.output[0]] = self._in(path, node, ins[0])
            return
        try:
            if op in ("Add", "Mul"):
                self._binary(node, path, op, ins)
            else:
                self._op(node, path, op, a, ins, self._in(path, node, ins[0]))
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise self._err(path, node, str(e)) from None

    def _op(self, node: onnx.NodeProto, path: str, op: str, a: dict, ins: list[str],
            x: str) -> None:
        if op in _UNARY:
            self._emit(path, node, _UNARY[op], [x])
        elif op == "Conv":
            self._conv(node, path, a, ins, x)
        elif op == "BatchNormalization":
            sc, b, mean, var = (torch.from_numpy(self._const(i).astype(np.float32))
                                for i in ins[1:5])
            scale = sc / torch.sqrt(var + float(a.get("epsilon", 1e-5)))
            self._emit(path, node, "batch_norm", [x], {},
                       {"scale": scale, "shift": b - mean * scale})
        elif op == "Clip":
            lo = self._const(ins[1]) if len(ins) > 1 else a.get("min")
            hi = self._const(ins[2]) if len(ins) > 2 else a.get("max")
            lo = float(lo) if lo is not None and np.size(lo) else -math.inf
            hi = float(hi) if hi is not None and np.size(hi) else math.inf
            if (lo, hi) == (0.0, 6.0):
                self._emit(path, node, "relu6", [x])
            elif (lo, hi) == (0.0, math.inf):
                self._emit(path, node, "relu", [x])
            else:
                raise self._err(path, node, f"Clip({lo}, {hi}) is not supported (only ReLU/ReLU6)")
        elif op == "HardSigmoid":
            if not (abs(a.get("alpha", 0.2) - 1 / 6) < 1e-6 and abs(a.get("beta", 0.5) - 0.5) < 1e-6):
                raise self._err(path, node, "only HardSigmoid with alpha 1/6, beta 0.5 (torch's)")
            self._emit(path, node, "hardsigmoid", [x])
        elif op == "GlobalAveragePool":
            self._emit(path, node, "avg_pool", [x], {"global": 1})
        elif op == "AveragePool":
            if a.get("ceil_mode", 0) or (a.get("count_include_pad", 0) and any(a.get("pads", []))):
                raise self._err(path, node, "ceil_mode / padded count_include_pad unsupported")
            k = list(a["kernel_shape"])
            p = list(a.get("pads", [0, 0, 0, 0]))
            self._emit(path, node, "avg_pool", [x], {
                "kernel": k, "stride": list(a.get("strides", k)), "padding": p})
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise self._err(path, node, "Flatten only with axis 1")
            self._flatten(node, path, x)
        elif op == "Reshape":
            self._reshape(node, path, x, self._const(ins[1]))
        elif op == "Gemm":
            self._gemm(node, path, a, ins, x)
        elif op == "MatMul":
            w = self._const(ins[1])
            if w is None or w.ndim != 2 or len(self._shape(x)) != 2:
                raise self._err(path, node, "only (N, K) x constant (K, M) is supported")
            self._emit(path, node, "linear", [x], {"act": "none"},
                       {"weight": torch.from_numpy(w.T.astype(np.float32).copy()),
                        "bias": torch.zeros(w.shape[1])})
        elif op == "Concat":
            parts = [self._in(path, node, i) for i in ins]
            self._emit(path, node, "concat", parts,
                       {"axis": int(a["axis"]) % len(self._shape(x))})
        elif op == "Resize":
            self._resize(node, path, a, ins, x)
        elif op == "Softmax":
            if len(self._shape(x)) != 2 or a.get("axis", -1) % 2 != 1:
                raise self._err(path, node, "softmax only over the classes of (N, C)")
            self._emit(path, node, "softmax", [x])
        elif op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = self._const(ins[1]).tolist()
            if sorted(int(i) % 4 for i in axes or []) != [2, 3] or len(self._shape(x)) != 4:
                raise self._err(path, node, f"ReduceMean over {axes} (only the spatial axes)")
            pooled = self._emit(path, node, "avg_pool", [x], {"global": 1})
            if not a.get("keepdims", 1):
                self._flatten(node, path + ".flatten", pooled)
        else:
            raise self._err(path, node, f"unsupported op {op}")

    def _conv(self, node: onnx.NodeProto, path: str, a: dict, ins: list[str], x: str) -> None:
        w = self._const(ins[1])
        if w is None or w.ndim != 4:
            raise self._err(path, node, "only 2-D convolutions with constant weights")
        b = self._const(ins[2]) if len(ins) > 2 else None
        k = list(w.shape[2:])
        dil = list(a.get("dilations", [1, 1]))
        stride = list(a.get("strides", [1, 1]))
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            h, wd = self._shape(x)[2:]
            pads = [0, 0, 0, 0]
            for i, n in enumerate((h, wd)):
                out = -(-n // stride[i])
                tot = max(0, (out - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 - n)
                small, big = tot // 2, tot - tot // 2
                pads[i], pads[i + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        self._emit(path, node, "conv2d", [x], {
            "stride": stride, "padding": pads, "dilation": dil, "groups": int(a.get("group", 1)),
            "act": "none"},
            {"weight": torch.from_numpy(w.astype(np.float32).copy()),
             "bias": torch.from_numpy(b.astype(np.float32).copy()) if b is not None
             else torch.zeros(w.shape[0])})

    def _gemm(self, node: onnx.NodeProto, path: str, a: dict, ins: list[str], x: str) -> None:
        w = self._const(ins[1])
        if w is None or a.get("transA", 0):
            raise self._err(path, node, "Gemm needs a constant B and transA=0")
        w = (w if a.get("transB", 0) else w.T) * float(a.get("alpha", 1.0))
        c = self._const(ins[2]) if len(ins) > 2 else None
        bias = (np.broadcast_to(c, (w.shape[0],)) * float(a.get("beta", 1.0))
                if c is not None else np.zeros(w.shape[0]))
        self._emit(path, node, "linear", [x], {"act": "none"},
                   {"weight": torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)),
                    "bias": torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))})

    def _binary(self, node: onnx.NodeProto, path: str, op: str, ins: list[str]) -> None:
        consts = [self._const(i) for i in ins]
        if op == "Add" and any(c is not None for c in consts):  # MatMul + Add -> linear bias
            c, other = (consts[1], ins[0]) if consts[1] is not None else (consts[0], ins[1])
            src = self.tensor.get(other)
            prod = next((n for n in self.nodes if n.name == src), None)
            if (prod is not None and prod.op == "linear" and prod is self.nodes[-1]
                    and c.size == prod.params["bias"].numel()):
                prod.params["bias"] = prod.params["bias"] + torch.from_numpy(
                    c.reshape(-1).astype(np.float32))
                self.value[src] = self.value[src] + torch.from_numpy(
                    c.reshape(-1).astype(np.float32))
                self.tensor[node.output[0]] = src
                return
        a, b = (self._in(path, node, i) for i in ins)
        sa, sb = self._shape(a), self._shape(b)
        if op == "Add":
            if sa != sb:
                raise self._err(path, node, f"add of shapes {sa} and {sb}")
            self._emit(path, node, "add", [a, b], {"act": "none"})
            return
        if math.prod(sb) > math.prod(sa):
            a, b, sa, sb = b, a, sb, sa
        if len(sa) == 4 and sb not in ((1, sa[1], 1, 1), sa):
            raise self._err(path, node, f"mul of shapes {sa} and {sb}")
        self._emit(path, node, "mul", [a, b])

    def _flatten(self, node: onnx.NodeProto, path: str, x: str) -> None:
        if len(self._shape(x)) == 2:
            self.tensor[node.output[0]] = x
        else:
            self._emit(path, node, "flatten", [x])

    def _reshape(self, node: onnx.NodeProto, path: str, x: str, shape: np.ndarray | None) -> None:
        if shape is None:
            raise self._err(path, node, "Reshape needs a constant target shape")
        sin = self._shape(x)
        tgt = [sin[i] if int(d) == 0 else int(d) for i, d in enumerate(shape.tolist())]
        sout = tuple(torch.zeros(sin).reshape(tgt).shape)
        if sout[0] != 1:
            raise self._err(path, node, f"reshape {sin} -> {tgt} changes the batch dimension")
        if sout == sin:
            self.tensor[node.output[0]] = x
        elif len(sout) == 2 and len(sin) == 4:
            self._emit(path, node, "flatten", [x])
        else:
            self._emit(path, node, "reshape", [x], {"shape": list(sout[1:])})

    def _resize(self, node: onnx.NodeProto, path: str, a: dict, ins: list[str], x: str) -> None:
        mode = a.get("mode", b"nearest")
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        mode, ctm = (v.decode() if isinstance(v, bytes) else v for v in (mode, ctm))
        if mode != "linear" or ctm not in ("half_pixel", "pytorch_half_pixel"):
            raise self._err(path, node, f"Resize mode {mode} / {ctm} (only bilinear half-pixel)")
        h, w = self._shape(x)[2:]
        sizes = self._const(ins[3]) if len(ins) > 3 else None
        scales = self._const(ins[2]) if len(ins) > 2 else None
        if sizes is not None and sizes.size:
            size = [int(sizes[2]), int(sizes[3])]
        elif scales is not None and scales.size:
            size = [int(math.floor(h * scales[2])), int(math.floor(w * scales[3]))]
        else:
            raise self._err(path, node, "Resize needs constant scales or sizes")
        self._emit(path, node, "resize_bilinear", [x], {"size": size})


def _unsqueeze(a: dict, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    for ax in sorted(int(i) for i in (axes if axes is not None else a["axes"])):
        x = np.expand_dims(x, ax)
    return x


_FOLD = {  # shape arithmetic on constants (old exporters' x.view(x.size(0), -1))
    "Gather": lambda a, x, i: np.take(x, i, axis=a.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Concat": lambda a, *xs: np.concatenate([np.atleast_1d(x) for x in xs], a["axis"]),
    "Cast": lambda a, x: x,
    "Identity": lambda a, x: x,
    "Squeeze": lambda a, x, axes=None: np.squeeze(x),
}


def capture_onnx(path: str | Path, fold: bool = True) -> FloatGraph:
    """Read a float ONNX model file into a FloatGraph."""
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise EdgembError(f"{path}: no such file") from None
    except Exception as e:  # protobuf raises DecodeError and friends
        raise EdgembError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    g = _OnnxBuilder(model, str(path)).build()
    g.meta["source"] = str(path)
    return prepare(g) if fold else g
