"""Small torch models quantized by our converter, and LiteRT-vs-reference comparisons."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgemobilenet.quant import litert_run
from edgemobilenet.quant.convert import quantize_input, quantize_module
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.quant.reference import run, run_node
from quant_helpers import randomize_bn


class OneOp(nn.Module):
    """conv stem (so the op sees a calibrated int8 input) -> the op under test."""

    def __init__(self, op: str, c: int = 8):
        super().__init__()
        self.op = op
        self.stem = nn.Conv2d(3, c, 3, 1, 1)
        self.conv = {
            "conv3x3_s2": nn.Conv2d(c, 12, 3, 2, 1),       # torch padding: PAD + VALID
            "conv3x3_same": nn.Conv2d(c, 12, 3, 1, 1),     # SAME
            "conv5x5_dilated": nn.Conv2d(c, 12, 5, 1, 4, dilation=2),
            "depthwise3x3": nn.Conv2d(c, c, 3, 1, 1, groups=c),
            "depthwise3x3_s2": nn.Conv2d(c, c, 3, 2, 1, groups=c),
            "pointwise_relu6": nn.Sequential(nn.Conv2d(c, 16, 1), nn.ReLU6()),
            "se_mul": nn.Conv2d(c, c, 1),
            "add_relu": nn.Conv2d(c, c, 1),
        }.get(op)
        self.fc = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        op = self.op
        if self.conv is not None and op not in ("se_mul", "add_relu"):
            return self.conv(x)
        if op == "se_mul":
            return x * F.hardsigmoid(self.conv(F.adaptive_avg_pool2d(x, 1)))
        if op == "add_relu":
            return F.relu(x + self.conv(x))
        if op in ("hardswish", "sigmoid", "tanh"):
            return getattr(torch, op, None)(x) if op != "hardswish" else F.hardswish(x)
        if op == "avg_pool_global":
            return F.adaptive_avg_pool2d(x, 1)
        if op == "fc":
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        if op == "concat":
            return torch.cat([x, F.relu(x), x], dim=1)
        raise ValueError(op)


ONE_OPS = ["conv3x3_s2", "conv3x3_same", "conv5x5_dilated", "depthwise3x3", "depthwise3x3_s2",
           "pointwise_relu6", "se_mul", "add_relu", "hardswish", "sigmoid", "tanh",
           "avg_pool_global", "fc", "concat"]


def one_op_graph(op: str, res: int = 12, seed: int = 0) -> QGraph:
    torch.manual_seed(seed)
    return quantize_module(OneOp(op).eval(), torch.randn(8, 3, res, res))


def zoo_graph(arch: str, res: int = 32, seed: int = 0) -> QGraph:
    from edgemobilenet.models import build
    torch.manual_seed(seed)
    m = randomize_bn(build(arch, width=0.35, resolution=res, num_classes=10), seed)
    return quantize_module(m, torch.randn(8, 3, res, res))


def sample(g: QGraph, seed: int = 1) -> np.ndarray:
    _, h, w, c = g.tensors[g.inputs[0]].shape
    return quantize_input(g, torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed)))


def per_node_diffs(g: QGraph, model: bytes, x: np.ndarray, kernels: str
                   ) -> dict[str, int]:
    """Max |LiteRT - reference| per QGraph node, each node fed LiteRT's own inputs."""
    it = litert_run.interpreter(model, kernels, keep_all=True)
    litert_run.run(it, x)
    tf = litert_run.tensors_by_name(it)
    out = {}
    for n in g.nodes:
        y = run_node(g, n, [tf[t] for t in n.inputs])
        if n.outputs[0] not in tf:  # a node with no TFLite tensor (the flatten before an FC)
            tf[n.outputs[0]] = y
            continue
        out[n.name] = int(np.abs(tf[n.outputs[0]].astype(np.int32) - y).max())
    return out


def whole_graph(g: QGraph, model: bytes, x: np.ndarray, kernels: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """(LiteRT output, reference output) for one input."""
    y = litert_run.run(litert_run.interpreter(model, kernels), x)
    return y, run(g, x)[g.outputs[0]]
