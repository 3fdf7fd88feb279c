"""QGraph -> .tflite export, run by LiteRT (`ai-edge-litert`), against the reference executor.

LiteRT's reference kernels (OpResolverType.BUILTIN_REF) must equal the reference executor bit
for bit, node by node (each node fed LiteRT's own inputs) and end to end. LiteRT's optimized
builtin kernels (x86 wheel) round the convolutions' final shift half up instead of away from
zero (measured): those may differ by 1 LSB per node, never more.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from tflite_helpers import ONE_OPS, one_op_graph, per_node_diffs, sample, whole_graph, zoo_graph

from edgemobilenet.cli import main
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.reference import run
from edgemobilenet.quant.tflite_export import export_tflite, to_tflite
from edgemobilenet.quant.tflite_import import from_bytes
from edgemobilenet.models.zoo import ARCHS


@pytest.mark.parametrize("op", ONE_OPS)
def test_one_op_models_bit_exact_with_litert_reference_kernels(op):
    g = one_op_graph(op)
    res = to_tflite(g)
    assert res.inexact == []
    x = sample(g)
    assert max(per_node_diffs(g, res.data, x, "ref").values()) == 0
    y, ref = whole_graph(g, res.data, x, "ref")
    np.testing.assert_array_equal(y, ref)
    assert max(per_node_diffs(g, res.data, x, "builtin").values()) <= 1


# every classifier; one detection and one segmentation model (the other heads are the same
# ops on other backbones)
ZOO = [a for a in sorted(ARCHS) if a.startswith(("mobilenet", "mnasnet"))] + \
    ["ssdlite_mobilenet_v3_small", "lraspp_mobilenet_v3_small"]


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_bit_exact_with_litert_and_round_trips(arch):
    """Export is bit-exact in LiteRT; import gives back the same QGraph (equal digests).
    resize_bilinear is the exception: TFLite's RESIZE_BILINEAR rounds differently."""
    g = zoo_graph(arch)
    res = to_tflite(g)
    resizes = {n.name for n in g.nodes if n.op == "resize_bilinear"}
    assert {line.split(":")[0] for line in res.inexact} == resizes
    if resizes:
        y, ref = whole_graph(g, res.data, sample(g), "ref")
        assert np.abs(y.astype(int) - ref).max() <= 2
        return
    x = sample(g)
    y, ref = whole_graph(g, res.data, x, "ref")
    np.testing.assert_array_equal(y, ref)
    g2 = from_bytes(res.data, arch)
    assert g2.digest() == g.digest()
    np.testing.assert_array_equal(run(g2, x)[g2.outputs[0]], ref)
    diffs = per_node_diffs(g, res.data, x, "ref")
    assert max(diffs.values()) == 0, {k: v for k, v in diffs.items() if v}


def test_unrepresentable_scales_are_reported():
    """A float64 scale TFLite cannot store changes the multiplier TFLite derives."""
    g = one_op_graph("conv3x3_same")
    node = g.nodes[1]
    node.params["multiplier"] = node.params["multiplier"] + np.int32(77)
    res = to_tflite(g)
    assert any(node.name in line for line in res.inexact)


def test_export_cli_tflite_and_onnx(tmp_path):
    g = one_op_graph("fc")
    src = tmp_path / "m.qgraph"
    qgraph.save(g, src)
    r = CliRunner().invoke(main, ["export", str(src), "-o", str(tmp_path / "m.tflite"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["model_hash"] == g.digest() and doc["inexact"] == []
    data = (tmp_path / "m.tflite").read_bytes()
    assert data[4:8] == b"TFL3"
    y, ref = whole_graph(g, data, sample(g), "ref")
    np.testing.assert_array_equal(y, ref)
    r = CliRunner().invoke(main, ["export", str(src), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_export_errors_leave_nothing(tmp_path):
    from edgemobilenet.errors import EdgembError
    from edgemobilenet.quant.qgraph import QNode, QTensor
    g = one_op_graph("avg_pool_global")
    x = g.outputs[0]
    g.nodes.append(QNode("pool", "avg_pool", [x], ["pooled"], {
        "kernel": [1, 1], "stride": [1, 1], "padding": [1, 0, 0, 0]}))  # neither SAME nor VALID
    g.outputs = ["pooled"]
    g.tensors["pooled"] = QTensor("pooled", (1, 2, 1, 8), "int8", g.tensors[x].scale,
                                  g.tensors[x].zero_point)
    with pytest.raises(EdgembError, match="neither SAME nor VALID"):
        export_tflite(g, tmp_path / "x.tflite")
    assert not list(tmp_path.iterdir())


def test_grouped_conv_exports_as_grouped_conv_2d():
    import qgraph_builders as qb

    from edgemobilenet.quant.tflite_schema import conv_multiplier
    g = qb.conv2d(np.random.default_rng(0), groups=2)
    for t in g.tensors.values():   # float32 scales, as our quantizer makes them
        t.scale = float(np.float32(t.scale))
    n = g.nodes[0]
    pairs = [conv_multiplier(g.tensors["input"].scale, float(s), g.tensors[n.outputs[0]].scale)
             for s in n.params["w_scale"]]
    n.params["multiplier"] = np.array([p[0] for p in pairs], np.int32)
    n.params["shift"] = np.array([p[1] for p in pairs], np.int32)
    res = to_tflite(g)
    assert res.inexact == []
    y, ref = whole_graph(g, res.data, sample(g), "ref")
    np.testing.assert_array_equal(y, ref)
    assert from_bytes(res.data).digest() == g.digest()
