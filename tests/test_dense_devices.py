"""SSDLite and LR-ASPP at an odd input size (45) from an edgemb checkpoint, quantized,
compiled for the Cortex-M4 (mps2-an386, QEMU) and measured by `edgemb bench` on the
composited test images: the raw head outputs equal the reference executor bit for bit, and
the device post-processing after the last layer (C, emb_postprocess.c) returns what the host
module returns on the reference's raw output (`tflite_nms.postprocess_int8`, what Cortex-A
runs after the TVM module): the same detections (TFLite_Detection_PostProcess regular NMS here, an
option the model carries; fast NMS, the default, in test_postprocess_c and the closing
measurements) and numpy's argmax map. The post-processing comes from the build alone
(anchors, thresholds, box coder scales, class names in the QGraph's metadata); float, int8
and device mAP / mIoU are reported and the HTML report draws the device's boxes / maps."""
from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from edgemobilenet.checkpoint import make_checkpoint, save_checkpoint
from edgemobilenet.cli import main as cli
from edgemobilenet.cli.bench_cmd import print_result
from edgemobilenet.data import dense_preprocess
from edgemobilenet.data.composite import BACKGROUND
from edgemobilenet.data.fashion_mnist import CLASSES
from edgemobilenet.detection.postspec import from_meta, with_nms
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.models import build
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.quant import qgraph
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
OPTS = {"width": 0.35, "resolution": 45, "num_classes": 11, "in_channels": 1}


def _graph(arch: str, tmp_path):
    """A random-init checkpoint (float model loadable: float accuracy is reported)."""
    m = build(arch, **OPTS)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(make_checkpoint(arch, OPTS, dense_preprocess("fashion-mnist", 45),
                                    m.state_dict(), epoch=0, val_top1=0.0,
                                    dataset="fashion-mnist", classes=[BACKGROUND, *CLASSES]),
                    ckpt)
    g = load_qgraph(str(ckpt), ModelOptions(calib="fashion-mnist", calib_count=8))
    if arch.startswith("ssdlite"):    # regular NMS, low threshold: several classes kept
        g = with_nms(g, use_regular_nms=True, score_threshold=0.1, detections_per_class=3)
    return g


@pytest.mark.parametrize("arch", ["ssdlite_mobilenet_v3_small", "lraspp_mobilenet_v3_small"])
def test_dense_model_on_m4_bench_bit_exact_with_device_postprocessing(arch, tmp_path):
    g = _graph(arch, tmp_path)
    doc = compile_mcu(g, load_target("mps2-an386"), tmp_path / "b")
    post = doc["postprocess"]
    assert doc["arena_bytes"] >= post["result_offset"]
    # the build alone carries the post-processing: the saved QGraph's spec is the one used
    spec = from_meta(qgraph.load(tmp_path / "b" / "model.qgraph"))
    assert spec.classes[1] == CLASSES[0] and spec.num_classes == 11

    r = CliRunner().invoke(cli, ["bench", str(tmp_path / "b"), "--emulate", "--data",
                                 "fashion-mnist", "--limit", "3", "--repeat", "1", "--json",
                                 "--report", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    acc = res["accuracy"]
    assert acc["reference_match"] == 1.0 and acc["compared"] == 4     # raw outputs
    d = acc["dense"]     # device post-processing == host_postprocess of the reference's
    assert d["device_equals_int8"] and acc["postprocess_on"].startswith("the device")
    for key in ("float", "int8", "device"):
        assert set(d[key]) == ({"map", "map50"} if post["kind"] == "detect"
                               else {"miou", "pixel_acc"})
    if post["kind"] == "detect":
        assert post["nms"] == "regular" and d["nms"]["use_regular_nms"]
        assert d["device_detections"] > 0
    else:
        assert d["device"]["pixel_acc"] > 0
    con = Console(file=io.StringIO(), width=200)
    print_result(res, con)
    text = con.file.getvalue()
    assert ("mAP@0.5" if post["kind"] == "detect" else "mIoU") in text
    assert "equal the int8 reference's: yes" in text

    page = (tmp_path / "r.html").read_text()
    assert ("mAP@0.5 %" if post["kind"] == "detect" else "mIoU %") in page
    figs = re.findall(r'alt="ground truth and the device[^"]*" src="data:image/png;base64,'
                      r'([^"]+)"', page)
    assert len(figs) == 1 and base64.b64decode(figs[0])[:4] == b"\x89PNG"
