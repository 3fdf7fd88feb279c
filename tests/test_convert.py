"""Float graph -> QGraph: OPS.md structure, and the reference executor agrees with float."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgemobilenet.models import build
from edgemobilenet.quant import qgraph, reference
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.convert import (dequantize_output, quantize_float_graph,
                                         quantize_input, quantize_module)
from edgemobilenet.quant.sqnr import layer_sqnr, sqnr_db
from quant_helpers import fashion, randomize_bn, trained_tiny
from test_capture import Functional


def _int8_outputs(q, x: torch.Tensor) -> np.ndarray:
    xq = quantize_input(q, x)
    return np.concatenate([dequantize_output(q, reference.run(q, xq[i:i + 1])[q.outputs[0]])
                           for i in range(len(xq))])


def test_trained_model_int8_agrees_with_float(tmp_path):
    model = trained_tiny()
    calib, _ = fashion(64, train=True, offset=10_000)
    q = quantize_module(model, calib, meta={"source": "tiny"})
    path = tmp_path / "tiny.qgraph"
    qgraph.save(q, path)
    q = qgraph.load(path)
    x, labels = fashion(200, train=False)
    with torch.no_grad():
        f = model(x).numpy()
    o = _int8_outputs(q, x)
    agreement = float((f.argmax(1) == o.argmax(1)).mean())
    assert agreement >= 0.9, agreement
    assert sqnr_db(f, o) > 20.0
    acc_f, acc_q = (float((v.argmax(1) == labels.numpy()).mean()) for v in (f, o))
    assert acc_f > 0.3 and abs(acc_f - acc_q) < 0.05
    per_layer = layer_sqnr(capture(model, (1, 28, 28)), q, x[:8])
    assert set(per_layer) >= {"stem.0", "dw.0", "add", "down.2", "fc"}
    assert min(per_layer.values()) > 15.0, per_layer


def test_qgraph_follows_ops_contract():
    model = trained_tiny()
    calib, _ = fashion(32, train=True)
    q = quantize_module(model, calib, method="percentile")
    t = q.tensors
    assert q.meta["method"] == "percentile" and q.meta["input_layout"] == "NHWC"
    assert t["input"].shape == (1, 28, 28, 1)
    stem = next(n for n in q.nodes if n.name == "stem.0")
    assert stem.op == "conv2d" and stem.params["weight"].shape == (8, 3, 3, 1)
    assert stem.attrs["padding"] == [1, 1, 1, 1] and stem.attrs["stride"] == [2, 2]
    assert stem.attrs["act_min"] == t["stem.0"].zero_point == -128       # ReLU6, range [0, x]
    six = t["stem.0"].zero_point + round(6 / t["stem.0"].scale)
    assert stem.attrs["act_max"] == min(127, six)
    w = model.stem[0].weight.detach()
    assert np.all(np.abs(stem.params["weight"]).reshape(8, -1).max(1) == 127)  # per channel
    bn = model.stem[1]
    folded_b = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps))
    want_bias = np.round(folded_b.detach().double().numpy()
                         / (t["input"].scale * stem.params["w_scale"].astype(np.float64)))
    assert np.array_equal(stem.params["bias"], want_bias.astype(np.int32))
    assert w.shape == (8, 1, 3, 3)
    dw = next(n for n in q.nodes if n.name == "dw.0")
    assert dw.attrs["groups"] == 8 and dw.params["weight"].shape == (8, 3, 3, 1)
    hs = next(n for n in q.nodes if n.op == "lut")
    assert hs.attrs["fn"] == "hardswish" and hs.params["table"].dtype == np.int8
    add = next(n for n in q.nodes if n.op == "add")
    assert add.attrs["left_shift"] == 20 and add.params["multiplier"].shape == (3,)
    pool = next(n for n in q.nodes if n.op == "avg_pool")
    assert (t[pool.outputs[0]].scale, t[pool.outputs[0]].zero_point) == \
        (t[pool.inputs[0]].scale, t[pool.inputs[0]].zero_point)
    assert pool.attrs["kernel"] == [7, 7]
    assert q.nodes[-1].op == "fully_connected" and t[q.outputs[0]].shape == (1, 10)


def test_functional_ops_convert_and_run():
    model = randomize_bn(Functional())
    g = capture(model, (3, 16, 16))
    calib = torch.randn(32, 3, 16, 16)
    q = quantize_float_graph(g, calib, method="percentile")
    ops = {n.op for n in q.nodes}
    assert {"concat", "mul", "lut", "resize_bilinear", "softmax", "reshape"} <= ops
    assert q.tensors[q.outputs[0]].scale == 1 / 256 and q.tensors[q.outputs[0]].zero_point == -128
    per_layer = layer_sqnr(g, q, torch.randn(4, 3, 16, 16))
    assert per_layer["fc"] > 20.0, per_layer        # flatten of 4x4 maps: FC weights permuted
    assert per_layer[g.output] > 20.0, per_layer


def test_per_channel_beats_per_tensor_on_folded_mobilenet():
    model = randomize_bn(build("mobilenet_v2", width=0.35, resolution=32, num_classes=10), 3)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():  # spread channel magnitudes, as trained BN statistics do
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_var.copy_(torch.logspace(-4, 0, c)[torch.randperm(c, generator=g)])
    calib = torch.randn(16, 3, 32, 32)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        f = model(x).numpy()
    per_channel = sqnr_db(f, _int8_outputs(quantize_module(model, calib), x))
    per_tensor = sqnr_db(f, _int8_outputs(quantize_module(model, calib, per_tensor_weights=True), x))
    assert per_channel > per_tensor + 3.0, (per_channel, per_tensor)


def test_quantize_input_layout():
    q = quantize_module(trained_tiny(), fashion(8, train=True)[0])
    x = torch.randn(3, 1, 28, 28)
    xq = quantize_input(q, x)
    assert xq.dtype == np.int8 and xq.shape == (3, 28, 28, 1)
    t = q.tensors["input"]
    back = (xq.astype(np.float64) - t.zero_point) * t.scale
    xn = x.permute(0, 2, 3, 1).numpy()
    inside = (xn > (-128 - t.zero_point) * t.scale) & (xn < (127 - t.zero_point) * t.scale)
    assert inside.mean() > 0.5
    assert np.abs(xn - back)[inside].max() <= t.scale / 2 + 1e-6
    with pytest.raises(Exception):
        quantize_module(trained_tiny(), torch.randn(28, 28))
