"""torch.nn.Module -> FloatGraph via torch.fx (BN folded, ReLU/ReLU6 fused by default).

Every node is named by its layer path in the module (`features.3.conv.0`); functions called
inside a submodule's forward get that submodule's path plus the fx name (`features.3.add`).
Anything outside the supported op set is an EdgembError naming the op and the layer path.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.bn_fold import prepare
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph, FNode

_ELEMENTWISE_MODULES: list[tuple[type, str]] = [
    (nn.ReLU, "relu"), (nn.ReLU6, "relu6"), (nn.Hardswish, "hardswish"),
    (nn.Hardsigmoid, "hardsigmoid"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"),
]
_ELEMENTWISE_FUNCS: dict[Any, str] = {
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    torch.tanh: "tanh", F.tanh: "tanh",
}
_ELEMENTWISE_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_ALIAS_FUNCS = {F.dropout, F.dropout2d}
_ALIAS_METHODS = {"contiguous", "clone"}


def capture(module: nn.Module, input_shape: tuple[int, int, int], fold: bool = True,
            where: str = "model") -> FloatGraph:
    """Trace `module` (eval mode) for NCHW input of `input_shape` (C, H, W) into a FloatGraph."""
    module = module.eval()
    try:
        gm = fx.symbolic_trace(module)
    except Exception as e:  # fx raises many types for untraceable code
        raise EdgembError(f"{where}: cannot trace the model with torch.fx "
                          f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    with torch.no_grad():
        ShapeProp(gm).propagate(torch.zeros(1, *input_shape))
    g = _Builder(gm, where).build(tuple(input_shape))
    g.infer_shapes()
    return prepare(g) if fold else g


def _shape(n: fx.Node) -> tuple[int, ...] | None:
    meta = n.meta.get("tensor_meta")
    return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None


def _path(n: fx.Node) -> str:
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack") or {}
    if stack:
        mod_path = list(stack.values())[-1][0]
        return f"{mod_path}.{n.name}" if mod_path else n.name
    return n.name


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(i) for i in v]


def _conv_padding(m: nn.Conv2d) -> list[int]:
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return [0, 0, 0, 0]
        tot = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        return [tot[0] // 2, tot[1] // 2, tot[0] - tot[0] // 2, tot[1] - tot[1] // 2]
    ph, pw = _pair(m.padding)
    return [ph, pw, ph, pw]


def _bn_params(m: nn.modules.batchnorm._BatchNorm) -> dict[str, torch.Tensor]:
    if m.running_mean is None or m.running_var is None:
        raise ValueError("batch norm without running statistics")
    inv = 1.0 / torch.sqrt(m.running_var.detach().float() + m.eps)
    w = m.weight.detach().float() if m.weight is not None else torch.ones_like(inv)
    b = m.bias.detach().float() if m.bias is not None else torch.zeros_like(inv)
    scale = w * inv
    return {"scale": scale, "shift": b - m.running_mean.detach().float() * scale}


class _Builder:
    def __init__(self, gm: fx.GraphModule, where: str):
        self.gm = gm
        self.where = where
        self.modules = dict(gm.named_modules())
        self.nodes: list[FNode] = []
        self.tensor: dict[fx.Node, str] = {}  # fx node -> float graph tensor name
        self.names: set[str] = {INPUT}
        self.nhwc: dict[fx.Node, str] = {}  # permute(0, 2, 3, 1) nodes -> their input

    def build(self, input_shape: tuple[int, int, int]) -> FloatGraph:
        output = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if INPUT in self.tensor.values():
                    raise EdgembError(f"{self.where}: models with more than one input are not "
                                      f"supported ('{n.name}')")
                self.tensor[n] = INPUT
            elif n.op == "output":
                out = n.args[0]
                if isinstance(out, (tuple, list)):
                    if len(out) != 1:
                        raise EdgembError(f"{self.where}: models with {len(out)} outputs are "
                                          f"not supported")
                    out = out[0]
                output = self._in(n, out)
            elif n.op == "get_attr":
                continue  # only an error if a tensor op uses it (caught in _in)
            elif _shape(n) is None:
                continue  # shape arithmetic (x.size(0)); consumers use propagated shapes
            else:
                self._convert(n)
        if output is None:
            raise EdgembError(f"{self.where}: model has no output")
        return FloatGraph(self.nodes, output, input_shape)

    # helpers --------------------------------------------------------------------------
    def _err(self, n: fx.Node, what: str) -> EdgembError:
        return EdgembError(f"{self.where}: layer '{_path(n)}': {what}")

    def _in(self, n: fx.Node, arg: Any) -> str:
        if isinstance(arg, fx.Node) and arg in self.tensor:
            return self.tensor[arg]
        if isinstance(arg, fx.Node) and arg in self.nhwc:
            return self.nhwc[arg]
        if isinstance(arg, fx.Node) and arg.op == "get_attr":
            raise self._err(n, f"uses the stored tensor '{arg.target}' as an operand "
                               f"(only layer parameters are supported)")
        raise self._err(n, f"operand {arg!r} is not a tensor (operations with constants "
                           f"are not supported)")

    def _emit(self, n: fx.Node, op: str, inputs: list[str], attrs: dict | None = None,
              params: dict | None = None, suffix: str = "") -> str:
        name = _path(n) + suffix
        base, i = name, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        self.nodes.append(FNode(name, op, inputs, attrs or {}, params or {}))
        self.tensor[n] = name
        return name

    def _alias(self, n: fx.Node, arg: Any) -> None:
        self.tensor[n] = self._in(n, arg)

    # conversion -----------------------------------------------------------------------
    def _convert(self, n: fx.Node) -> None:
        try:
            if n.op == "call_module":
                self._module(n, self.modules[n.target])
            elif n.op == "call_function":
                self._function(n, n.target)
            elif n.op == "call_method":
                self._method(n, n.target)
            else:
                raise self._err(n, f"unsupported fx node kind '{n.op}'")
        except (ValueError, TypeError) as e:
            raise self._err(n, str(e)) from None

    def _module(self, n: fx.Node, m: nn.Module) -> None:
        x = self._in(n, n.args[0]) if n.args else None
        kind = f"{type(m).__module__}.{type(m).__name__}"
        for cls, op in _ELEMENTWISE_MODULES:
            if type(m) is cls:
                self._emit(n, op, [x])
                return
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise self._err(n, f"Conv2d padding_mode '{m.padding_mode}' is not supported")
            w = m.weight.detach().float().clone()
            b = (m.bias.detach().float().clone() if m.bias is not None
                 else torch.zeros(w.shape[0]))
            self._emit(n, "conv2d", [x], {
                "stride": _pair(m.stride), "padding": _conv_padding(m),
                "dilation": _pair(m.dilation), "groups": int(m.groups), "act": "none"},
                {"weight": w, "bias": b})
        elif isinstance(m, nn.Linear):
            w = m.weight.detach().float().clone()
            b = (m.bias.detach().float().clone() if m.bias is not None
                 else torch.zeros(w.shape[0]))
            self._emit(n, "linear", [x], {"act": "none"}, {"weight": w, "bias": b})
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            self._emit(n, "batch_norm", [x], {}, _bn_params(m))
        elif isinstance(m, nn.Hardtanh) and (m.min_val, m.max_val) == (0.0, 6.0):
            self._emit(n, "relu6", [x])
        elif isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity)):
            self._alias(n, n.args[0])
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            self._adaptive_pool(n, x, m.output_size)
        elif isinstance(m, nn.AvgPool2d):
            self._avg_pool(n, x, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                           m.count_include_pad, m.divisor_override)
        elif isinstance(m, nn.Flatten):
            self._flatten(n, x, m.start_dim, m.end_dim)
        elif isinstance(m, nn.Softmax):
            self._softmax(n, x, m.dim)
        elif isinstance(m, nn.Upsample):
            self._resize(n, x, m.mode, m.align_corners)
        else:
            raise self._err(n, f"unsupported op {kind}")

    def _function(self, n: fx.Node, f: Callable) -> None:
        args, kw = n.args, n.kwargs
        if f in _ELEMENTWISE_FUNCS:
            self._emit(n, _ELEMENTWISE_FUNCS[f], [self._in(n, args[0])])
        elif f in (operator.add, torch.add, operator.iadd):
            self._binary(n, "add", args[0], args[1])
        elif f in (operator.mul, torch.mul, operator.imul):
            self._binary(n, "mul", args[0], args[1])
        elif f in (torch.cat, torch.concat):
            dim = kw.get("dim", args[1] if len(args) > 1 else 0)
            self._concat(n, args[0], dim)
        elif f is torch.flatten:
            self._flatten(n, self._in(n, args[0]), kw.get("start_dim", args[1] if len(args) > 1
                                                            else 0), -1)
        elif f is torch.reshape:
            self._reshape(n, args[0])
        elif f is F.hardtanh and tuple(args[1:3]) == (0.0, 6.0):
            self._emit(n, "relu6", [self._in(n, args[0])])
        elif f is F.adaptive_avg_pool2d:
            self._adaptive_pool(n, self._in(n, args[0]), kw.get("output_size", args[1:2] and
                                                                 args[1]))
        elif f is F.avg_pool2d:
            p = dict(zip(["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                          "divisor_override"], args[1:]), **kw)
            self._avg_pool(n, self._in(n, args[0]), p["kernel_size"], p.get("stride"),
                           p.get("padding", 0), p.get("ceil_mode", False),
                           p.get("count_include_pad", True), p.get("divisor_override"))
        elif f is F.interpolate:
            self._resize(n, self._in(n, args[0]), kw.get("mode", "nearest"),
                         kw.get("align_corners"))
        elif f in (F.softmax, torch.softmax):
            self._softmax(n, self._in(n, args[0]), kw.get("dim", args[1] if len(args) > 1
                                                            else None))
        elif f is torch.mean:
            self._mean(n, args[0], kw.get("dim", args[1] if len(args) > 1 else None),
                       kw.get("keepdim", args[2] if len(args) > 2 else False))
        elif f in _ALIAS_FUNCS:
            self._alias(n, args[0])
        else:
            name = getattr(f, "__name__", repr(f))
            raise self._err(n, f"unsupported op {getattr(f, '__module__', '') or ''}.{name}")

    def _method(self, n: fx.Node, meth: str) -> None:
        args, kw = n.args, n.kwargs
        if meth in _ELEMENTWISE_METHODS:
            self._emit(n, _ELEMENTWISE_METHODS[meth], [self._in(n, args[0])])
        elif meth in ("add", "add_"):
            self._binary(n, "add", args[0], args[1])
        elif meth in ("mul", "mul_"):
            self._binary(n, "mul", args[0], args[1])
        elif meth in ("view", "reshape"):
            self._reshape(n, args[0])
        elif meth == "flatten":
            self._flatten(n, self._in(n, args[0]), kw.get("start_dim", args[1] if len(args) > 1
                                                            else 0), -1)
        elif meth == "permute":
            self._permute(n, args[0], [int(d) for d in (args[1:] if len(args) > 2 or
                                                        isinstance(args[1], int) else args[1])])
        elif meth == "mean":
            self._mean(n, args[0], kw.get("dim", args[1] if len(args) > 1 else None),
                       kw.get("keepdim", args[2] if len(args) > 2 else False))
        elif meth == "softmax":
            self._softmax(n, self._in(n, args[0]), kw.get("dim", args[1] if len(args) > 1
                                                            else None))
        elif meth in _ALIAS_METHODS:
            self._alias(n, args[0])
        else:
            raise self._err(n, f"unsupported op Tensor.{meth}")

    # op helpers -----------------------------------------------------------------------
    def _binary(self, n: fx.Node, op: str, a: Any, b: Any) -> None:
        if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
            raise self._err(n, f"unsupported op {op} with a constant operand")
        ta, tb = self._in(n, a), self._in(n, b)
        sa, sb = _shape(a), _shape(b)
        if op == "add":
            if sa != sb:
                raise self._err(n, f"add of different shapes {sa} and {sb} is not supported")
            self._emit(n, "add", [ta, tb], {"act": "none"})
            return
        if math.prod(sb) > math.prod(sa):
            ta, tb, sa, sb = tb, ta, sb, sa
        ok = len(sb) <= len(sa) and all(d in (1, sa[i - len(sb) + len(sa)]) for i, d in
                                        enumerate(sb))
        if not ok or (len(sa) == 4 and sb not in ((1, sa[1], 1, 1), sa)):
            raise self._err(n, f"mul of shapes {sa} and {sb}: only equal shapes or per-channel "
                               f"(N, C, 1, 1) scaling are supported")
        self._emit(n, "mul", [ta, tb])

    def _concat(self, n: fx.Node, parts: Any, dim: int) -> None:
        ins = [self._in(n, p) for p in parts]
        rank = len(_shape(n))
        self._emit(n, "concat", ins, {"axis": int(dim) % rank})

    def _permute(self, n: fx.Node, src: Any, dims: list[int]) -> None:
        """NCHW -> NHWC, allowed only as the step before a flatten (a detection head's
        output order): the pair becomes one `flatten` with `order: nhwc`."""
        users = list(n.users)
        flat = all(u.op == "call_method" and u.target == "flatten" or
                   u.op == "call_function" and u.target is torch.flatten for u in users)
        if dims != [0, 2, 3, 1] or not users or not flat:
            raise self._err(n, f"permute {dims} (only (0, 2, 3, 1) followed by flatten(1))")
        self.nhwc[n] = self._in(n, src)

    def _flatten(self, n: fx.Node, x: str, start: int, end: int) -> None:
        rank = len(_shape(n.args[0]))
        if start % rank != 1 or end % rank != rank - 1:
            raise self._err(n, f"flatten from dim {start} to {end} (only from 1 to the last "
                               f"is supported)")
        if n.args[0] in self.nhwc:
            self._emit(n, "flatten", [x], {"order": "nhwc"})
        elif rank == 2:
            self.tensor[n] = x
        else:
            self._emit(n, "flatten", [x])

    def _reshape(self, n: fx.Node, src: Any) -> None:
        x = self._in(n, src)
        sin, sout = _shape(src), _shape(n)
        if sout[0] != sin[0]:
            raise self._err(n, f"reshape {sin} -> {sout} changes the batch dimension")
        if sin == sout:
            self.tensor[n] = x
        elif len(sout) == 2 and len(sin) == 4:
            self._emit(n, "flatten", [x])
        else:
            self._emit(n, "reshape", [x], {"shape": list(sout[1:])})

    def _adaptive_pool(self, n: fx.Node, x: str, size: Any) -> None:
        if _pair(size) != [1, 1]:
            raise self._err(n, f"adaptive average pooling to {size} (only 1x1 is supported)")
        self._emit(n, "avg_pool", [x], {"global": 1})

    def _avg_pool(self, n: fx.Node, x: str, kernel: Any, stride: Any, padding: Any,
                  ceil_mode: bool, count_include_pad: bool, divisor: Any) -> None:
        k = _pair(kernel)
        s = _pair(stride) if stride else k
        p = _pair(padding)
        if ceil_mode or divisor:
            raise self._err(n, "average pooling with ceil_mode or divisor_override is not "
                               "supported")
        if any(p) and count_include_pad:
            raise self._err(n, "padded average pooling must use count_include_pad=False")
        h, w = _shape(n.args[0])[2:]
        attrs = {"kernel": k, "stride": s, "padding": [p[0], p[1], p[0], p[1]]}
        if k == [h, w] and not any(p):
            attrs["global"] = 1
        self._emit(n, "avg_pool", [x], attrs)

    def _mean(self, n: fx.Node, src: Any, dim: Any, keepdim: bool) -> None:
        rank = len(_shape(src))
        dims = sorted(d % rank for d in ([dim] if isinstance(dim, int) else (dim or [])))
        if rank != 4 or dims != [2, 3]:
            raise self._err(n, f"mean over dims {dim} (only the spatial dims (2, 3))")
        pooled = self._emit(n, "avg_pool", [self._in(n, src)], {"global": 1})
        if not keepdim:
            self._emit(n, "flatten", [pooled], suffix=".flatten")

    def _softmax(self, n: fx.Node, x: str, dim: Any) -> None:
        shape = _shape(n)
        if len(shape) != 2 or dim is None or dim % 2 != 1:
            raise self._err(n, f"softmax over dim {dim} of shape {shape} (only over the "
                               f"classes of (N, C))")
        self._emit(n, "softmax", [x])

    def _resize(self, n: fx.Node, x: str, mode: str, align_corners: Any) -> None:
        if mode != "bilinear" or align_corners:
            raise self._err(n, f"interpolation mode '{mode}' align_corners={align_corners} "
                               f"(only bilinear with align_corners=False)")
        self._emit(n, "resize_bilinear", [x], {"size": list(_shape(n)[2:])})
