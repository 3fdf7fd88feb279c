"""Float ONNX capture: a zoo model exported by torch gives the same outputs as the module."""
from __future__ import annotations

import warnings

import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from edgemobilenet.errors import EdgembError
from edgemobilenet.models import build
from edgemobilenet.quant.capture_onnx import capture_onnx
from edgemobilenet.quant.floatgraph import run
from quant_helpers import randomize_bn


def _export(model: nn.Module, shape, path, keep_bn: bool) -> None:
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, *shape),), str(path), dynamo=False,
                          training=mode, do_constant_folding=not keep_bn)


@pytest.mark.parametrize("arch, keep_bn", [("mobilenet_v3_small", True), ("mnasnet_a1", False)])
def test_onnx_zoo_model_matches_module(tmp_path, arch, keep_bn):
    model = randomize_bn(build(arch, width=0.35, resolution=32, num_classes=5))
    path = tmp_path / "m.onnx"
    _export(model, (3, 32, 32), path, keep_bn)
    if keep_bn:
        assert "BatchNormalization" in {n.op_type for n in onnx.load(str(path)).graph.node}
    g = capture_onnx(path)
    assert "batch_norm" not in {n.op for n in g.nodes}
    assert g.nodes[0].name == "features.0.0"          # layer path from the exporter's scopes
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(run(g, x)[g.output], model(x), atol=1e-5, rtol=0)


def test_onnx_matmul_add_and_errors(tmp_path):
    w = numpy_helper.from_array(torch.randn(12, 3).numpy(), "w")
    b = numpy_helper.from_array(torch.randn(3).numpy(), "b")
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/flat/Flatten"),
             helper.make_node("MatMul", ["f", "w"], ["m"], name="/fc/MatMul"),
             helper.make_node("Add", ["m", "b"], ["y"], name="/fc/Add")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 12, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 3])], [w, b])
    path = tmp_path / "mm.onnx"
    onnx.save(helper.make_model(graph), str(path))
    g = capture_onnx(path)
    assert [n.op for n in g.nodes] == ["avg_pool", "flatten", "linear"]
    x = torch.randn(1, 12, 4, 4)
    want = x.mean((2, 3)) @ torch.from_numpy(numpy_helper.to_array(w).copy()) + torch.from_numpy(
        numpy_helper.to_array(b).copy())
    assert torch.allclose(run(g, x)[g.output], want, atol=1e-5)

    nodes[1] = helper.make_node("LeakyRelu", ["p"], ["f"], name="/head/act/LeakyRelu")
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", graph.input, graph.output,
                                                  [w, b])), str(path))
    with pytest.raises(EdgembError, match=r"head\.act.*LeakyRelu"):
        capture_onnx(path)
    path.write_bytes(b"not onnx")
    with pytest.raises(EdgembError, match="not a readable ONNX model"):
        capture_onnx(path)
