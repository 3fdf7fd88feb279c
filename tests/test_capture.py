"""torch.fx capture: BN folding equivalence, op coverage, errors naming op and layer path."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgemobilenet.errors import EdgembError
from edgemobilenet.models import build
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.floatgraph import run
from quant_helpers import TinyNet, randomize_bn


class Functional(nn.Module):
    """Exercises functional ops, methods, a standalone BN, concat and a flatten with H*W > 1."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.se = nn.Conv2d(8, 8, 1)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 6)
        self.bn1 = nn.BatchNorm1d(6)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), torch.sigmoid(self.b(x))], 1)
        y = self.bn(y)                                   # not after a conv: depthwise 1x1
        gate = F.hardsigmoid(self.se(y.mean((2, 3), keepdim=True)))
        y = torch.tanh(y * gate)
        y = F.interpolate(self.pool(y), scale_factor=0.5, mode="bilinear", align_corners=False)
        y = self.bn1(self.fc(y.view(y.size(0), -1)))
        return F.softmax(y, dim=1)


@pytest.mark.parametrize("arch", ["mobilenet_v2", "mobilenet_v3_small"])
def test_zoo_folded_graph_equals_module(arch):
    model = randomize_bn(build(arch, width=0.35, resolution=32, num_classes=7))
    g = capture(model, (3, 32, 32))
    ops = {n.op for n in g.nodes}
    assert "batch_norm" not in ops and "relu" not in ops and "relu6" not in ops
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(run(g, x)[g.output], model(x), atol=1e-5, rtol=0)


def test_folding_keeps_layer_names_and_acts():
    model = randomize_bn(TinyNet())
    unfolded = capture(model, (1, 28, 28), fold=False)
    g = capture(model, (1, 28, 28))
    assert [n.op for n in unfolded.nodes].count("batch_norm") == 4
    conv = g.node("stem.0")
    assert conv.op == "conv2d" and conv.attrs["act"] == "relu6"
    assert g.node("dw.0").attrs["groups"] == 8 and g.node("dw.0").attrs["act"] == "relu"
    add = next(n for n in g.nodes if n.op == "add")
    assert add.name == "add" and add.inputs == ["stem.0", "pw.0"]
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        ref = model(x)
        assert torch.allclose(run(unfolded, x)[unfolded.output], ref, atol=1e-5, rtol=0)
        assert torch.allclose(run(g, x)[g.output], ref, atol=1e-5, rtol=0)


def test_functional_ops_captured():
    model = randomize_bn(Functional())
    g = capture(model, (3, 16, 16))
    ops = [n.op for n in g.nodes]
    for op in ("concat", "mul", "tanh", "sigmoid", "hardsigmoid", "resize_bilinear", "softmax",
               "flatten", "avg_pool"):
        assert op in ops, op
    assert g.node("bn").op == "conv2d" and g.node("bn").attrs["groups"] == 8
    assert "bn1" not in {n.name for n in g.nodes}    # folded into fc
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(run(g, x)[g.output], model(x), atol=1e-5, rtol=0)


class _Scaled(nn.Module):
    def forward(self, x):
        return x * 2.0


class _Bad(nn.Module):
    def __init__(self, tail: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.block = nn.Sequential(nn.ReLU(), tail)

    def forward(self, x):
        return self.block(self.conv(x))


@pytest.mark.parametrize("tail, op, layer", [
    (nn.MaxPool2d(2), "MaxPool2d", "block.1"),
    (_Scaled(), "mul", "block.1"),
    (nn.LeakyReLU(), "LeakyReLU", "block.1"),
])
def test_unsupported_op_names_op_and_layer(tail, op, layer):
    with pytest.raises(EdgembError) as e:
        capture(_Bad(tail), (3, 8, 8))
    msg = str(e.value)
    assert op in msg and f"'{layer}" in msg, msg
    assert "\n" not in msg
