"""Quantization-aware training on the BN-folded float graph (Jacob et al. 2018, section 3).

The graph is trained as it will run in int8: folded conv/linear weights are fake-quantized
symmetric per output channel, every tensor that gets its own int8 scale is fake-quantized
with ranges tracked as exponential moving averages, gradients pass straight through the
rounding (torch's fake_quantize ops). Training starts from the float weights and the PTQ
ranges; the result converts to a QGraph exactly like a calibrated graph.
"""
from __future__ import annotations

import copy
import math
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgemobilenet.quant.calibrate import Ranges
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph, FNode, run
from edgemobilenet.quant.observers import QMAX, QMIN, qparams

# ops whose output gets its own scale and zero point in the QGraph (see convert.py)
_OWN_SCALE = ("conv2d", "linear", "add", "mul", "concat", "relu", "relu6", "hardswish",
              "hardsigmoid", "sigmoid", "tanh")
Progress = Callable[[int, int, int, float], None]  # epoch, step, steps, loss


def fake_quant_weight(w: torch.Tensor, per_tensor: bool = False) -> torch.Tensor:
    """Symmetric int8 per output channel (axis 0), values in [-127, 127]; STE gradient."""
    amax = w.detach().reshape(w.shape[0], -1).abs().amax(1)
    if per_tensor:
        amax = amax.max().expand_as(amax)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax)).float()
    zp = torch.zeros(w.shape[0], dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -127, 127)


class FakeQuantGraph(nn.Module):
    """A trainable copy of a float graph that simulates int8 inference in its forward."""

    def __init__(self, g: FloatGraph, ranges: Ranges, momentum: float = 0.05,
                 per_tensor_weights: bool = False):
        super().__init__()
        self.g = copy.deepcopy(g)
        self.per_tensor = per_tensor_weights
        self.momentum = momentum
        self.index = {n.name: i for i, n in enumerate(self.g.nodes)}
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        for i, n in enumerate(self.g.nodes):
            if n.op in ("conv2d", "linear"):
                self.weights[f"n{i}"] = nn.Parameter(n.params["weight"].clone())
                self.biases[f"n{i}"] = nn.Parameter(n.params["bias"].clone())
        self.observed = [INPUT] + [n.name for n in self.g.nodes if n.op in _OWN_SCALE]
        lo = torch.tensor([min(ranges[t][0], 0.0) for t in self.observed], dtype=torch.float64)
        hi = torch.tensor([max(ranges[t][1], 0.0) for t in self.observed], dtype=torch.float64)
        self.register_buffer("lo", lo)
        self.register_buffer("hi", hi)
        self.slot = {t: i for i, t in enumerate(self.observed)}

    def _params(self, n: FNode) -> dict[str, torch.Tensor]:
        key = f"n{self.index[n.name]}"
        if key not in self.weights:
            return n.params
        return {"weight": fake_quant_weight(self.weights[key], self.per_tensor),
                "bias": self.biases[key]}

    def _act(self, name: str, y: torch.Tensor) -> torch.Tensor:
        i = self.slot.get(name)
        if i is None:
            return y
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.lo[i] += m * (min(float(y.min()), 0.0) - self.lo[i])
                self.hi[i] += m * (max(float(y.max()), 0.0) - self.hi[i])
        scale, zp = qparams(float(self.lo[i]), float(self.hi[i]))
        return torch.fake_quantize_per_tensor_affine(y, scale, zp, QMIN, QMAX)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.g, x, hook=self._act, params=self._params)[self.g.output]

    def export(self) -> tuple[FloatGraph, Ranges]:
        """The float graph with the trained weights, and the tracked ranges."""
        g = copy.deepcopy(self.g)
        for i, n in enumerate(g.nodes):
            if f"n{i}" in self.weights:
                n.params = {"weight": self.weights[f"n{i}"].detach().clone(),
                            "bias": self.biases[f"n{i}"].detach().clone()}
        ranges = {t: (float(self.lo[i]), float(self.hi[i])) for t, i in self.slot.items()}
        return g, ranges


def _loss(g: FloatGraph, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if g.nodes and g.nodes[-1].op == "softmax" and g.nodes[-1].name == g.output:
        return F.nll_loss(torch.log(out.clamp_min(1e-9)), labels)
    return F.cross_entropy(out, labels)


def train_qat(g: FloatGraph, ranges: Ranges,
              epoch_batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
              epochs: int, steps_per_epoch: int, lr: float = 1e-3,
              progress: Progress | None = None, per_tensor_weights: bool = False
              ) -> tuple[FloatGraph, Ranges]:
    """Fine-tune `g` with fake quantization; `epoch_batches(epoch)` yields (images, labels)."""
    model = FakeQuantGraph(g, ranges, per_tensor_weights=per_tensor_weights)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    total = max(1, epochs * steps_per_epoch)
    step = 0
    model.train()
    for epoch in range(epochs):
        for i, (x, y) in enumerate(epoch_batches(epoch)):
            for group in opt.param_groups:  # cosine decay over the whole run
                group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / total))
            opt.zero_grad()
            loss = _loss(model.g, model(x), y)
            loss.backward()
            opt.step()
            step += 1
            if progress:
                progress(epoch, i + 1, steps_per_epoch, loss.item())
    model.eval()
    return model.export()
