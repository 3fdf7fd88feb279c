"""The post-processing a detector or segmenter carries in its QGraph (detection.postspec):
anchors written exactly, the NMS config changed by `with_nms` (a new model hash) and
malformed metadata rejected with one line naming the problem."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgemobilenet.detection.anchors import anchors
from edgemobilenet.detection.postspec import KEY, from_meta, with_nms
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.quant import qgraph


@pytest.fixture(scope="module")
def detector():
    return load_qgraph("ssdlite_mobilenet_v3_small", ModelOptions(
        width=0.35, resolution=45, num_classes=4, calib=None, calib_count=2))


def test_spec_roundtrip_exact(detector, tmp_path):
    qgraph.save(detector, tmp_path / "d.qgraph")
    spec = from_meta(qgraph.load(tmp_path / "d.qgraph"))
    np.testing.assert_array_equal(spec.anchors, anchors("tf", 45, 45))    # bit for bit
    assert spec.anchors.dtype == np.float32 and spec.classes[0] == "background"
    assert spec.num_classes == 4 and not spec.nms.use_regular_nms
    assert (spec.nms.x_scale, spec.nms.h_scale) == (10.0, 5.0)
    g = with_nms(detector, use_regular_nms=True, score_threshold=0.4)
    assert from_meta(g).nms.use_regular_nms and from_meta(g).nms.score_threshold == 0.4
    assert g.digest() != detector.digest() and not from_meta(detector).nms.use_regular_nms


@pytest.mark.parametrize("change, message", [
    (lambda d: {**d, "anchors": d["anchors"][:-1]}, "anchors x (4 box codes + 4 classes)"),
    (lambda d: {**d, "nms": {**d["nms"], "speed": 1}}, "unknown NMS option(s) speed"),
    (lambda d: {**d, "nms": {**d["nms"], "iou_threshold": 2}}, "iou_threshold must be in"),
    (lambda d: {**d, "nms": {**d["nms"], "w_scale": 0}}, "w_scale must be > 0"),
    (lambda d: {**d, "kind": "mask"}, "kind 'mask'"),
    (lambda d: {k: v for k, v in d.items() if k != "classes"}, "malformed meta.postprocess"),
])
def test_malformed_spec_one_line(detector, change, message):
    g = replace(detector, meta={**detector.meta, KEY: change(detector.meta[KEY])})
    with pytest.raises(EdgembError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")) as e:
        from_meta(g, "d.qgraph")
    assert "\n" not in str(e.value) and str(e.value).startswith("d.qgraph: ")


def test_nms_options_only_for_detectors():
    seg = load_qgraph("lraspp_mobilenet_v3_small", ModelOptions(
        width=0.35, resolution=45, num_classes=3, calib=None, calib_count=2))
    assert from_meta(seg).kind == "argmax"
    with pytest.raises(EdgembError, match="NMS options are for detectors"):
        with_nms(seg, max_detections=5)
