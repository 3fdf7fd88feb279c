"""The float graph: the QGraph op set in float32, NCHW, before quantization.

Frontends (`capture.py`) build it from torch modules or ONNX files; `bn_fold.py` folds batch
norm and fuses ReLU/ReLU6; `calibrate.py` runs it to record tensor ranges; `convert.py` turns
it into a QGraph; `qat.py` trains it with fake quantization. Each node has one output tensor
named like the node (its layer path in the source model).

Ops and attributes (all activations NCHW, or (N, C) after flatten):
  conv2d           params weight (OC, IC/g, KH, KW), bias (OC,); attrs stride, padding
                   [t, l, b, r], dilation, groups, act ("none" | "relu" | "relu6")
  linear           params weight (OC, IC), bias (OC,); attrs act
  batch_norm       params scale (C,), shift (C,) (y = x * scale + shift); removed by bn_fold
  relu, relu6, hardswish, hardsigmoid, sigmoid, tanh      elementwise
  add              two inputs of equal shape; attrs act
  mul              a (N,C,H,W) or (N,C) times b broadcastable to it
  avg_pool         attrs kernel, stride, padding [t, l, b, r]; `global` 1 for global pooling
  flatten          (N, C, H, W) -> (N, C*H*W); attr order "nhwc" flattens as (N, H*W*C)
                   (torch's permute(0, 2, 3, 1).flatten(1): the QGraph's own order)
  reshape          attrs shape (without batch)
  concat           attrs axis (NCHW numbering)
  resize_bilinear  attrs size [OH, OW] (half-pixel centres)
  softmax          over axis 1 of (N, C)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from edgemobilenet.errors import EdgembError

INPUT = "input"
ACTS = ("none", "relu", "relu6")
ELEMENTWISE = ("relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "tanh")


@dataclass
class FNode:
    """One float op with a single output tensor named `name`."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class FloatGraph:
    """Nodes in execution order; `shapes` holds every tensor's shape at batch 1."""

    nodes: list[FNode]
    output: str
    input_shape: tuple[int, int, int]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> FNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self, tensor: str) -> list[FNode]:
        return [n for n in self.nodes if tensor in n.inputs]

    def tensors(self) -> Iterator[str]:
        yield INPUT
        for n in self.nodes:
            yield n.name

    def infer_shapes(self) -> None:
        """Fill `shapes` by running a zero input through the graph."""
        with torch.no_grad():
            out = run(self, torch.zeros(1, *self.input_shape), keep_all=True)
        self.shapes = {k: tuple(v.shape) for k, v in out.items()}


def _act(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return F.relu(x)
    if act == "relu6":
        return F.relu6(x)
    return x


def _pad_conv(x: torch.Tensor, pad: list[int]) -> tuple[torch.Tensor, tuple[int, int]]:
    t, l, b, r = pad
    if t == b and l == r:
        return x, (t, l)
    return F.pad(x, (l, r, t, b)), (0, 0)


def apply_node(n: FNode, xs: list[torch.Tensor],
               params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Run one node with torch functional ops; `params` overrides `n.params` (QAT)."""
    p = n.params if params is None else params
    a = n.attrs
    op = n.op
    x = xs[0]
    if op == "conv2d":
        x, pad = _pad_conv(x, a["padding"])
        y = F.conv2d(x, p["weight"], p["bias"], tuple(a["stride"]), pad, tuple(a["dilation"]),
                     a["groups"])
        return _act(y, a.get("act", "none"))
    if op == "linear":
        return _act(F.linear(x, p["weight"], p["bias"]), a.get("act", "none"))
    if op == "batch_norm":
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * p["scale"].reshape(shape) + p["shift"].reshape(shape)
    if op == "relu":
        return F.relu(x)
    if op == "relu6":
        return F.relu6(x)
    if op == "hardswish":
        return F.hardswish(x)
    if op == "hardsigmoid":
        return F.hardsigmoid(x)
    if op == "sigmoid":
        return torch.sigmoid(x)
    if op == "tanh":
        return torch.tanh(x)
    if op == "add":
        return _act(x + xs[1], a.get("act", "none"))
    if op == "mul":
        b = xs[1]
        if b.dim() == 2 and x.dim() == 4:
            b = b[:, :, None, None]
        return x * b
    if op == "avg_pool":
        if a.get("global"):
            return x.mean((2, 3), keepdim=True)
        t, l, b, r = a["padding"]
        if (t, l) != (b, r):
            x = F.pad(x, (l, r, t, b))
            t = l = 0
        return F.avg_pool2d(x, a["kernel"], a["stride"], (t, l), count_include_pad=False)
    if op == "flatten":
        return (x.permute(0, 2, 3, 1) if a.get("order") == "nhwc" else x).flatten(1)
    if op == "reshape":
        return x.reshape(x.shape[0], *a["shape"])
    if op == "concat":
        return torch.cat(xs, a["axis"])
    if op == "resize_bilinear":
        return F.interpolate(x, size=tuple(a["size"]), mode="bilinear", align_corners=False)
    if op == "softmax":
        return torch.softmax(x, 1)
    raise EdgembError(f"{n.name}: float op '{op}' is not supported")


def run(g: FloatGraph, x: torch.Tensor, keep_all: bool = False,
        hook: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
        params: Callable[[FNode], dict[str, torch.Tensor]] | None = None,
        ) -> dict[str, torch.Tensor]:
    """Execute on NCHW float input; returns {output: y} or every tensor with keep_all.

    `hook(name, value)` may replace each produced tensor (fake quantization in QAT);
    `params(node)` may supply a node's parameters (QAT's trainable copies).
    """
    env: dict[str, torch.Tensor] = {INPUT: hook(INPUT, x) if hook else x}
    uses: dict[str, int] = {}
    if not keep_all:
        for n in g.nodes:
            for t in n.inputs:
                uses[t] = uses.get(t, 0) + 1
    for n in g.nodes:
        y = apply_node(n, [env[t] for t in n.inputs], params(n) if params else None)
        env[n.name] = hook(n.name, y) if hook else y
        if not keep_all:
            for t in n.inputs:
                uses[t] -= 1
                if uses[t] == 0 and t != g.output:
                    del env[t]
    return env if keep_all else {g.output: env[g.output]}
