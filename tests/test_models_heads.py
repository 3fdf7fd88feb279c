"""Detection and segmentation models: the papers' sizes, torchvision's layout and numbers,
fx traceability at odd input sizes, and int8 through the quantizer and reference executor."""
from __future__ import annotations

import importlib.util
import json
import operator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from edgemobilenet.detection.anchors import anchors, feature_map_sizes
from edgemobilenet.models import build
from edgemobilenet.models.zoo import ARCHS, task_of
from edgemobilenet.profile import profile_model
from edgemobilenet.quant import reference
from edgemobilenet.quant.convert import dequantize_output, quantize_input, quantize_module

ROOT = Path(__file__).resolve().parent.parent
REF = json.loads((ROOT / "tests" / "data" / "torchvision_reference.json").read_text())
_spec = importlib.util.spec_from_file_location("tv_ref",
                                               ROOT / "tools" / "torchvision_reference.py")
tv_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tv_ref)

pytestmark = pytest.mark.usefixtures("one_thread")

HEADS = [a for a in ARCHS if task_of(a) != "classification"]

# arch, resolution, params (M), MAdds (B): V2 paper Tables 6-7, V3 paper Table 6 (SSDLite at
# 320, 91 classes), torchvision's documented LR-ASPP count. Mobile DeepLabv3 is at 513x513,
# DeepLab's crop size (33x33 at stride 16); at 512x512 it is 2.60 B.
PAPER = [
    ("ssdlite_mobilenet_v2", 320, 4.3, 0.8),
    ("ssdlite_mobilenet_v3_large", 320, 4.97, 0.62),
    ("ssdlite_mobilenet_v3_large_reduced", 320, 3.22, 0.51),
    ("ssdlite_mobilenet_v3_small", 320, 2.49, 0.21),
    ("deeplabv3_mobilenet_v2", 513, 2.11, 2.75),
]


@pytest.mark.parametrize("arch,res,params,madds", PAPER, ids=[p[0] for p in PAPER])
def test_paper_figures(arch, res, params, madds):
    classes = 91 if task_of(arch) == "detection" else 21
    prof = profile_model(build(arch, resolution=res, num_classes=classes), (3, res, res))
    assert abs(prof.params / 1e6 - params) <= 0.05 * params
    assert abs(prof.madds / 1e9 - madds) <= 0.05 * madds


@pytest.mark.parametrize("arch,count", [("lraspp_mobilenet_v3_large", 3_221_538),
                                        ("ssdlite320_mobilenet_v3_large", 3_440_060)])
def test_torchvision_parameter_counts(arch, count):
    assert sum(p.numel() for p in build(arch).parameters()) == count


@pytest.mark.parametrize("arch,output,size", [
    ("ssdlite320_mobilenet_v3_large", None, 320), ("lraspp_mobilenet_v3_large", "out", 200)])
def test_torchvision_keys_and_outputs(arch, output, size):
    """Same keys and shapes in the same order as torchvision 0.29.1, and with the same
    weights the same outputs (reference made by tools/torchvision_reference.py)."""
    ref = REF[arch]
    model = build(arch, resolution=size).eval()
    assert tv_ref.key_shapes(model.state_dict()) == ref["keys"]
    model.load_state_dict(tv_ref.fill(model.state_dict()))
    with torch.no_grad():
        y = model(tv_ref.sample_input(size))
    outs = [(y, ref[output])] if output else list(zip(model.split(y), (
        ref["bbox_regression"], ref["cls_logits"])))
    for got, want in outs:
        assert list(got.shape) == want["shape"]
        s = tv_ref.summary(got)
        assert s["abs_sum"] == pytest.approx(want["abs_sum"], rel=1e-4)
        assert s["sum"] == pytest.approx(want["sum"], rel=1e-3, abs=1e-2 * want["abs_sum"] / 1e4)
        np.testing.assert_allclose(s["first"], want["first"], rtol=1e-3, atol=1e-4)


def test_torchvision_anchors():
    ref = REF["ssdlite320_mobilenet_v3_large"]
    a = torch.from_numpy(anchors("torchvision", 320, 320))
    assert a.shape[0] == ref["anchors_count"]
    s = tv_ref.summary(a)
    assert s["sum"] == pytest.approx(ref["anchors"]["sum"], rel=1e-5)
    np.testing.assert_allclose(s["first"], ref["anchors"]["first"], rtol=1e-5)


def test_tf_anchors_and_odd_sizes():
    assert feature_map_sizes(300, 300) == [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    a = anchors("tf", 300, 300)
    assert a.shape == (19 * 19 * 3 + (100 + 25 + 9 + 4 + 1) * 6, 4)
    # first box of the first map: 0.1 x 0.1 centred on the first cell
    np.testing.assert_allclose(a[0], [0.5 / 19, 0.5 / 19, 0.1, 0.1], rtol=1e-6)
    # the last map's interpolated box: sqrt(0.95 * 1.0), square, centred
    np.testing.assert_allclose(a[-1], [0.5, 0.5, 0.95 ** 0.5, 0.95 ** 0.5], rtol=1e-6)


ALLOWED_MODULES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid,
                   nn.Sigmoid, nn.AdaptiveAvgPool2d)
ALLOWED_FUNCTIONS = {operator.add, operator.mul, operator.getitem, getattr, torch.cat,
                     torch.flatten, F.interpolate}


@pytest.mark.parametrize("arch", HEADS)
def test_trace_odd_size_standard_layers(arch):
    """fx traces every model; it runs at sizes that are not multiples of 32."""
    model = build(arch, width=0.35, resolution=75, num_classes=5).eval()
    gm = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 3, 75, 91)
    y = model(x)
    torch.testing.assert_close(gm(x), y)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module":
            assert isinstance(modules[node.target], ALLOWED_MODULES), node.target
        elif node.op == "call_function":
            assert node.target in ALLOWED_FUNCTIONS, node.target
        elif node.op == "call_method":
            assert node.target in ("permute", "flatten", "size"), node.target
    if task_of(arch) == "segmentation":
        assert y.shape == (1, 5, 75, 91)
    else:
        loc, conf = model.split(y)
        n = len(anchors(model.anchor_style, 75, 91))
        assert loc.shape == (1, n, 4) and conf.shape == (1, n, 5)


@pytest.mark.parametrize("arch,res", [("ssdlite_mobilenet_v2", 67),
                                      ("lraspp_mobilenet_v3_small", 67),
                                      ("deeplabv3_mobilenet_v2", 67)])
def test_int8_through_quantizer_and_reference(arch, res):
    """Concat of NHWC-flattened heads, resize, sigmoid gate, multiply, dilated depthwise:
    the quantizer covers them and the reference executor's output tracks float."""
    torch.manual_seed(0)
    model = build(arch, width=0.35, resolution=res, num_classes=4).eval()
    calib = torch.rand(8, 3, res, res) * 2 - 1
    q = quantize_module(model, calib)
    ops = {n.op for n in q.nodes}
    if not arch.startswith("lraspp"):
        assert "concat" in ops
    if arch != "ssdlite_mobilenet_v2":
        assert "resize_bilinear" in ops
    if arch.startswith("lraspp"):
        assert {"mul", "lut"} <= ops
    dilated = [n for n in q.nodes if n.op == "conv2d" and max(n.attrs["dilation"]) > 1]
    assert dilated or arch == "ssdlite_mobilenet_v2"
    x = calib[:1]
    raw = reference.run(q, quantize_input(q, x))[q.outputs[0]]
    got = dequantize_output(q, raw).reshape(-1)
    with torch.no_grad():
        want = model(x)
    want = (want.permute(0, 2, 3, 1) if want.dim() == 4 else want).reshape(-1).numpy()
    assert raw.dtype == np.int8 and got.shape == want.shape
    assert np.corrcoef(got, want)[0, 1] > 0.95
