"""Float ONNX as tflite2onnx, tf2onnx and torch.onnx write it: the captured float graph equals
onnxruntime's float output, the int8 pipeline runs on it, and bad files are one-line errors."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import helper

import onnx_builders as ob
from corruption import byte_flips_caught
from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.evaluate import int8_logits
from edgemobilenet.quant.capture_onnx import capture_onnx
from edgemobilenet.quant.convert import quantize_float_graph
from edgemobilenet.quant.floatgraph import run

pytestmark = pytest.mark.usefixtures("one_thread")
EDGEMB = str(Path(sys.executable).parent / "edgemb")
CASES = [("tflite2onnx", 11), ("tflite2onnx", 13), ("tf2onnx", 13), ("tf2onnx", 18),
         ("torch", 17), ("torch", 21)]


def _onnx_input(g, x: torch.Tensor) -> np.ndarray:
    """NCHW float images -> the ONNX model's own input layout."""
    return (x.permute(0, 2, 3, 1) if g.meta["onnx_input_layout"] == "NHWC" else x).numpy()


@pytest.mark.parametrize("kind, opset", CASES)
def test_converter_shapes_match_onnxruntime(kind, opset, tmp_path):
    path = tmp_path / f"{kind}.onnx"
    onnx.save(ob.BUILDERS[kind](opset), str(path))
    g = capture_onnx(path)
    assert g.meta["onnx_input_layout"] == ("NCHW" if kind == "torch" else "NHWC")
    ops = [n.op for n in g.nodes]
    assert "batch_norm" not in ops and "reshape" not in ops   # transposes folded away
    if kind == "tf2onnx":
        assert ops[:2] == ["conv2d", "hardswish"]          # x * relu6(x + 3) / 6 fused
    x = torch.from_numpy(np.random.default_rng(opset).normal(
        size=(4, *g.input_shape)).astype(np.float32))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": _onnx_input(g, x[i:i + 1])})[0]
                           for i in range(len(x))])
    with torch.no_grad():
        got = run(g, x)[g.output].numpy()
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=2e-5, rtol=1e-4)

    q = quantize_float_graph(g, x, "minmax")
    q8 = int8_logits(q, x)
    assert (q8.argmax(1) == want.argmax(1)).mean() >= 0.75
    assert np.abs(q8 - want.reshape(q8.shape)).max() < 0.25 * np.abs(want).max() + 0.05


def _save(path, nodes, inits, in_shape, out_shape, opset=13) -> None:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, in_shape)], [helper.make_tensor_value_info(
            nodes[-1].output[0], onnx.TensorProto.FLOAT, out_shape)], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(path))


@pytest.mark.parametrize("nodes, message", [
    ([helper.make_node("LeakyRelu", ["x"], ["y"], name="/head/act/LeakyRelu")],
     r"layer 'head\.act\.leakyrelu' \(LeakyRelu\): unsupported op LeakyRelu"),
    ([helper.make_node("Transpose", ["x"], ["t"], name="odd", perm=[0, 2, 1, 3]),
      helper.make_node("GlobalAveragePool", ["t"], ["y"], name="gap")],
     r"layer 'gap' \(GlobalAveragePool\): the input is a transposed view"),
    ([helper.make_node("Clip", ["x"], ["y"], name="clip", min=-1.0, max=1.0)],
     r"Clip\(-1.0, 1.0\)"),
])
def test_unsupported_is_one_line_naming_node_and_op(tmp_path, nodes, message):
    path = tmp_path / "bad.onnx"
    _save(path, nodes, [], [1, 4, 3, 3], None, opset=11)
    with pytest.raises(EdgembError, match=message) as e:
        capture_onnx(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_cli_bad_onnx_exit_2_nothing_written(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(ob.tflite2onnx_v1(), str(path))
    data = path.read_bytes()
    out = tmp_path / "m.qgraph"
    for name, blob in (("truncated.onnx", data[: len(data) // 2]),
                       ("foreign.onnx", b"PK\x03\x04" + bytes(range(200))),
                       ("empty.onnx", b"")):
        bad = tmp_path / name
        bad.write_bytes(blob)
        res = CliRunner().invoke(main, ["quantize", str(bad), "-o", str(out), "--limit", "2"])
        assert isinstance(res.exception, EdgembError) and str(bad) in str(res.exception)
        assert "\n" not in str(res.exception) and not out.exists()
    res = subprocess.run([EDGEMB, "quantize", str(tmp_path / "truncated.onnx"), "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_byte_flips_are_caught_or_harmless(tmp_path):
    """Damaged protobufs (no checksums in ONNX) either fail as one EdgembError line or load."""
    path = tmp_path / "m.onnx"
    onnx.save(ob.tflite2onnx_v1(), str(path))
    assert byte_flips_caught(path, capture_onnx, step=4) > 0


def test_shape_and_external_data_checks(tmp_path):
    path = tmp_path / "m.onnx"
    m = ob.tflite2onnx_v1()
    m.graph.initializer[0].dims[0] = 1 << 40          # shape claims far more than the data
    onnx.save(m, str(path))
    with pytest.raises(EdgembError, match="has shape"):
        capture_onnx(path)
    m = ob.tflite2onnx_v1()
    t = m.graph.initializer[0]
    t.data_location = onnx.TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    path.write_bytes(m.SerializeToString())   # onnx.save would follow the location
    with pytest.raises(EdgembError, match="external file"):
        capture_onnx(path)


@pytest.mark.parametrize("asset", ["keras_v3_block_tf2onnx.onnx", "tflite_v1_tflite2onnx.onnx"])
def test_real_converter_outputs(asset, tmp_path):
    """Files written by tf2onnx 1.17 and tflite2onnx 0.4.1 from Keras models
    (tools/make_onnx_assets.py): float capture equals onnxruntime and quantizes, and each
    file quantized by onnxruntime imports within 1 LSB per node (tf2onnx left the Keras
    block's BatchNorms as per-channel Mul + Add, which onnxruntime quantizes one by one)."""
    from onnxruntime.quantization import QuantFormat, QuantType

    from edgemobilenet.quant.onnx_peer import OnnxPeer
    from edgemobilenet.quant.onnx_qdq_import import import_onnx_int8
    from test_onnx_qdq_import import ort_quantize

    path = Path(__file__).parent / "assets" / asset
    g = capture_onnx(path)
    ops = [n.op for n in g.nodes]
    assert "reshape" not in ops and "batch_norm" not in ops
    if "tf2onnx" in asset:      # NHWC input, Keras' spelled-out activations fused
        assert g.meta["onnx_input_layout"] == "NHWC" and {"hardswish", "hardsigmoid"} <= set(ops)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(8, *g.input_shape))
                         .astype(np.float32))
    name = sess.get_inputs()[0].name
    want = np.concatenate([sess.run(None, {name: _onnx_input(g, x[i:i + 1])})[0]
                           for i in range(len(x))])
    with torch.no_grad():
        got = run(g, x)[g.output].numpy()
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-5, rtol=1e-4)

    q8 = int8_logits(quantize_float_graph(g, x, "minmax"), x)
    assert np.abs(q8 - want.reshape(q8.shape)).max() < 0.25 * np.abs(want).max() + 0.05
    q8 = tmp_path / "int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # per-tensor: onnxruntime writes per-channel DequantizeLinear invalid at opset 11
        ort_quantize(path, q8, _onnx_input(g, x), QuantFormat.QDQ, QuantType.QUInt8, False)
    q, g8, info = import_onnx_int8(q8)
    if "tf2onnx" in asset:      # a per-channel Mul/Add by a constant: a +-127 depthwise 1x1
        assert any(n.op == "conv2d" and n.params["weight"].shape[1:3] == (1, 1) and
                   (np.abs(n.params["weight"]) == 127).all() for n in q.nodes)
    agg = OnnxPeer(q8, q, g8, info, all_tensors=True).per_node(x[:2].numpy())
    assert agg.max_lsb <= 1 and agg.exact_fraction > 0.97, (agg.worst, agg.per_op)
