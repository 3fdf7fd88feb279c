"""int8 ONNX as onnxruntime's quantize_static writes it (QDQ and QOperator, U8S8 and S8S8,
per-channel and per-tensor) imported with the file's own scales: every QGraph node, fed
onnxruntime's own inputs, is within 1 LSB of onnxruntime's output (it requantizes in float,
the QGraph in fixed point) and almost always equal."""
from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

import onnx_builders as ob
from corruption import byte_flips_caught
from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.models import build
from edgemobilenet.quant import qgraph, reference
from edgemobilenet.quant.convert import quantize_input, quantize_module
from edgemobilenet.quant.onnx_export import export_qdq
from edgemobilenet.quant.onnx_peer import OnnxPeer
from edgemobilenet.quant.onnx_qdq_import import import_onnx_int8
from quant_helpers import randomize_bn

pytestmark = pytest.mark.usefixtures("one_thread")
VARIANTS = {  # name: (format, activation type, per-channel weights)
    "qdq-u8s8": (QuantFormat.QDQ, QuantType.QUInt8, True),
    "qdq-s8s8": (QuantFormat.QDQ, QuantType.QInt8, True),
    "qop-u8s8": (QuantFormat.QOperator, QuantType.QUInt8, True),
    "qop-s8s8-per-tensor": (QuantFormat.QOperator, QuantType.QInt8, False),
}


class _Reader(CalibrationDataReader):
    def __init__(self, name: str, images: np.ndarray):
        self.it = iter([{name: images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self.it, None)


def ort_quantize(fp32, out, images: np.ndarray, fmt, act, per_channel: bool) -> None:
    """onnxruntime's recommended flow: quant_pre_process, then quantize_static."""
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    name = onnx.load(str(pre)).graph.input[0].name
    quantize_static(str(pre), str(out), _Reader(name, images), quant_format=fmt,
                    per_channel=per_channel, activation_type=act, weight_type=QuantType.QInt8)


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    """MobileNetV2 0.35-32 (random weights, BN randomized) quantized four ways."""
    d = tmp_path_factory.mktemp("qdq")
    model = randomize_bn(build("mobilenet_v2", width=0.35, resolution=32, num_classes=10))
    fp32 = d / "fp32.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(fp32), dynamo=False,
                          input_names=["x"], output_names=["y"])
    calib = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype(np.float32)
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (fmt, act, pc) in VARIANTS.items():
            files[name] = d / f"{name}.onnx"
            ort_quantize(fp32, files[name], calib, fmt, act, pc)
    return files


def _images(n: int, shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float32)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_node_within_one_lsb_of_onnxruntime(zoo_files, variant):
    path = zoo_files[variant]
    q, g, info = import_onnx_int8(path)
    assert q.meta["per_tensor_weights"] == (not VARIANTS[variant][2])
    peer = OnnxPeer(path, q, g, info, all_tensors=True)
    agg = peer.per_node(_images(2, g.input_shape))
    assert agg.nodes >= 2 * 60
    assert agg.max_lsb <= 1, agg.worst
    assert agg.exact_fraction > 0.98, (agg.exact_fraction, agg.per_op)
    # whole network, each side feeding itself from the same quantized input: the per-node
    # 1-LSB differences compound but stay small; top-1 agrees
    x = _images(1, g.input_shape, seed=5)
    env = peer.run(x)
    ours = reference.run(q, env[q.inputs[0]])[q.outputs[0]]
    assert np.abs(ours.astype(int) - env[q.outputs[0]]).max() <= 16
    assert ours.argmax() == env[q.outputs[0]].argmax()


def test_file_scales_and_integers_are_kept(zoo_files):
    path = zoo_files["qop-u8s8"]
    model = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    q, _, _ = import_onnx_int8(path)
    first = next(n for n in model.graph.node if n.op_type == "QLinearConv")
    x = q.tensors[q.inputs[0]]
    assert x.scale == float(consts[first.input[1]]) and x.zero_point == \
        int(consts[first.input[2]]) - 128
    conv = q.nodes[0]
    assert conv.op == "conv2d"
    np.testing.assert_array_equal(conv.params["weight"],
                                  consts[first.input[3]].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(conv.params["bias"], consts[first.input[8]])
    out = q.tensors[conv.outputs[0]]
    assert out.scale == float(consts[first.input[6]])
    assert out.zero_point == int(consts[first.input[7]]) - 128


def test_rescaling_average_pool_and_nhwc_qdq(tmp_path, zoo_files):
    """A global average pool whose output scale differs from its input's becomes a
    one-rounding depthwise conv; a QDQ model with an NHWC input and transposes imports."""
    model = onnx.load(str(zoo_files["qop-u8s8"]))
    gap = next(n for n in model.graph.node if n.op_type == "QLinearGlobalAveragePool")
    init = next(t for t in model.graph.initializer if t.name == gap.input[3])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(0.73),
                                          init.name))
    path = tmp_path / "gap.onnx"
    onnx.save(model, str(path))
    q, g, info = import_onnx_int8(path)
    mean = [n for n in q.nodes if n.op == "conv2d" and (n.params["weight"] == 1).all()]
    assert len(mean) == 1 and mean[0].params["weight"].shape[1:3] == (1, 1)   # 1x1 map here
    agg = OnnxPeer(path, q, g, info, all_tensors=True).per_node(_images(2, g.input_shape))
    assert agg.max_lsb <= 1 and agg.exact_fraction > 0.98, (agg.worst, agg.per_op)

    fp32 = tmp_path / "tflite2onnx.onnx"
    onnx.save(ob.tflite2onnx_v1(13), str(fp32))
    qdq = tmp_path / "tflite2onnx_qdq.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort_quantize(fp32, qdq, _images(8, (16, 16, 3)), QuantFormat.QDQ, QuantType.QUInt8, True)
    q, g, info = import_onnx_int8(qdq)
    assert info.input_layout == "NHWC" and g.input_shape == (3, 16, 16)
    assert [n.op for n in q.nodes][-2:] == ["softmax", "lut"]   # 1/256, then ORT's 1/255
    agg = OnnxPeer(qdq, q, g, info, all_tensors=True).per_node(_images(2, g.input_shape))
    assert agg.max_lsb <= 1, agg.worst
    back = tmp_path / "back.onnx"                  # and out again as QDQ (the table: DQ, Q)
    export_qdq(q, back)
    x8 = quantize_input(q, _images(1, g.input_shape))
    sess = ort.InferenceSession(str(back), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, {q.inputs[0]: x8})[0]
    assert np.abs(theirs.astype(int) - reference.run(q, x8)[q.outputs[0]]).max() <= 2


def test_cli_quantize_and_model_commands_take_int8_onnx(zoo_files, tmp_path):
    path = zoo_files["qdq-u8s8"]
    out = tmp_path / "m.qgraph"
    res = CliRunner().invoke(main, ["quantize", str(path), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["method"].startswith("onnx file") and len(doc["layers"]) > 60
    imported = import_onnx_int8(path)[0]
    assert qgraph.load(out).digest() == imported.digest()
    assert load_qgraph(str(path), ModelOptions()).digest() == imported.digest()


def test_asymmetric_weights_and_float_files_are_one_line_errors(zoo_files, tmp_path):
    model = onnx.load(str(zoo_files["qop-u8s8"]))
    conv = next(n for n in model.graph.node if n.op_type == "QLinearConv")
    zp = next(t for t in model.graph.initializer if t.name == conv.input[5])
    zp.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(zp) + np.int8(3), zp.name))
    path = tmp_path / "asym.onnx"
    onnx.save(model, str(path))
    with pytest.raises(EdgembError, match=r"layer 'features\.0\.0' \(QLinearConv\): weights "
                                          r"with a non-zero"):
        import_onnx_int8(path)
    fp32 = tmp_path / "f.onnx"
    onnx.save(ob.torch_style(), str(fp32))
    with pytest.raises(EdgembError, match="not a quantized ONNX model"):
        import_onnx_int8(fp32)


def test_eval_compares_with_onnxruntime_on_data(zoo_files):
    res = CliRunner().invoke(main, ["eval", str(zoo_files["qop-u8s8"]), "--data",
                                    "fashion-mnist", "--limit", "6", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["images"] == 6 and doc["runtime"] == "onnxruntime"
    assert set(doc["edgemb"]) == set(doc["onnxruntime"]) == {"top1", "top5"}
    assert doc["agreement"] >= 0.5 and 0 < doc["exact_values"] <= 1


def test_damaged_int8_file_is_caught_or_harmless(tmp_path):
    fp32 = tmp_path / "f.onnx"
    onnx.save(ob.tflite2onnx_v1(13), str(fp32))
    path = tmp_path / "q.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort_quantize(fp32, path, _images(4, (16, 16, 3)), QuantFormat.QOperator,
                     QuantType.QUInt8, True)
    assert byte_flips_caught(path, import_onnx_int8, step=7) > 0


def test_float_bias_is_quantized_at_input_times_weight_scale(zoo_files, tmp_path):
    """Exporters other than onnxruntime keep biases float: the same integers result."""
    model = onnx.load(str(zoo_files["qdq-u8s8"]))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
          and consts.get(n.input[0], np.zeros(0, np.int8)).dtype == np.int32]
    assert dq
    for n in dq:
        real = consts[n.input[0]].astype(np.float64) * consts[n.input[1]].astype(np.float64)
        model.graph.initializer.append(numpy_helper.from_array(real.astype(np.float32),
                                                               n.output[0]))
        model.graph.node.remove(n)
    path = tmp_path / "float_bias.onnx"
    onnx.save(model, str(path))
    ours = import_onnx_int8(path)[0]
    want = import_onnx_int8(zoo_files["qdq-u8s8"])[0]
    for a, b in zip(ours.nodes, want.nodes):
        if "bias" in b.params:
            assert np.abs(a.params["bias"].astype(np.int64) - b.params["bias"]).max() <= 1


@pytest.mark.parametrize("fmt", [QuantFormat.QDQ, QuantFormat.QOperator])
def test_tf2onnx_shaped_model_quantized_by_onnxruntime(tmp_path, fmt):
    """NHWC input with a Pad, Keras' spelled-out h-swish (Add 3 and Mul 1/6 by scalar
    constants become tables), SE gate, ReduceMean over NHWC axes, NHWC flatten + Gemm."""
    fp32 = tmp_path / "keras.onnx"
    onnx.save(ob.tf2onnx_keras(13), str(fp32))
    path = tmp_path / "keras_int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort_quantize(fp32, path, _images(8, (16, 16, 3)), fmt, QuantType.QUInt8, True)
    q, g, info = import_onnx_int8(path)
    assert info.input_layout == "NHWC"
    assert [n.attrs.get("fn") for n in q.nodes[1:3]] == ["affine", "affine"]
    agg = OnnxPeer(path, q, g, info, all_tensors=True).per_node(_images(3, g.input_shape))
    assert agg.max_lsb <= 1 and agg.exact_fraction > 0.97, (agg.worst, agg.per_op)


def test_our_qdq_export_imports_back_identical(tmp_path):
    """QGraph -> export_qdq -> import: every integer parameter, scale and zero point returns
    (Relu/Clip the exporter puts before QuantizeLinear become clamps again)."""
    model = randomize_bn(build("mobilenet_v3_small", width=0.35, resolution=32, num_classes=10))
    q = quantize_module(model, torch.from_numpy(_images(4, (3, 32, 32))))
    path = tmp_path / "ours.onnx"
    export_qdq(q, path)
    back, _, info = import_onnx_int8(path)
    assert info.input_layout == "NHWC" and [n.op for n in back.nodes] == [n.op for n in q.nodes]
    for a, b in zip(q.nodes, back.nodes):
        assert a.attrs == b.attrs, a.name
        assert a.params.keys() == b.params.keys(), a.name
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=f"{a.name} {k}")
        ta, tb = q.tensors[a.outputs[0]], back.tensors[b.outputs[0]]
        assert (ta.shape, ta.scale, ta.zero_point) == (tb.shape, tb.scale, tb.zero_point)
    x8 = quantize_input(q, _images(1, (3, 32, 32)))
    np.testing.assert_array_equal(reference.run(q, x8)[q.outputs[0]],
                                  reference.run(back, x8)[back.outputs[0]])


def test_imported_int8_onnx_compiles_and_runs_bit_exact_in_qemu(tmp_path):
    """`edgemb compile` takes the onnxruntime-quantized file as MODEL; the firmware in QEMU
    (Cortex-M4) equals the reference executor on the imported QGraph bit for bit."""
    from firmware_check import assert_firmware_matches_reference

    from edgemobilenet.targets import load_target

    fp32 = tmp_path / "keras.onnx"
    onnx.save(ob.tf2onnx_keras(13), str(fp32))
    path = tmp_path / "keras_int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ort_quantize(fp32, path, _images(8, (16, 16, 3)), QuantFormat.QOperator,
                     QuantType.QUInt8, True)
    out = tmp_path / "m4"
    res = CliRunner().invoke(main, ["compile", str(path), "--target", "mps2-an386", "-o",
                                    str(out), "--json"])
    assert res.exit_code == 0, res.output
    q = import_onnx_int8(path)[0]
    assert json.loads(res.stdout)["model_hash"] == q.digest()
    assert_firmware_matches_reference(q, load_target("mps2-an386"), out, n_inputs=2)
