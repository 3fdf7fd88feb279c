"""The device post-processing in C (firmware/kernels/portable/emb_postprocess.c), fast and
regular NMS, returns exactly what the host module returns
(edgemobilenet/detection/tflite_nms.py) on the same raw int8 outputs: on the host under ASan+UBSan, and on the M4, M7 and M55 in QEMU. The segmentation
argmax equals numpy's (ties: the lowest class)."""
from __future__ import annotations

import numpy as np
import pytest
from postprocess_c import argmax_record, build_host, build_qemu, detect_record, run

from edgemobilenet.detection.anchors import anchors
from edgemobilenet.detection.tflite_nms import NMSConfig, postprocess_int8

CONFIGS = [NMSConfig(max_detections=20, score_threshold=0.9, iou_threshold=0.3,
                     max_classes_per_detection=2),
           NMSConfig(score_threshold=0.5, top_k=50),
           NMSConfig(score_threshold=0.3, iou_threshold=0.6, max_detections=10, top_k=8),
           NMSConfig(score_threshold=0.999),     # nothing or almost nothing passes
           # regular (per-class) NMS: the merge truncated to max_detections, and uncapped
           # with other box coder scales
           NMSConfig(use_regular_nms=True, score_threshold=0.5, detections_per_class=5,
                     max_detections=12, top_k=40),
           NMSConfig(use_regular_nms=True, score_threshold=0.2, iou_threshold=0.45,
                     max_detections=100, detections_per_class=10, x_scale=8.0, y_scale=12.0,
                     w_scale=4.0, h_scale=6.0)]


def _cases():
    """(raw output, scale, zero point, anchors, config): random raw outputs of an SSDLite
    at 64x64 (5 classes + background), with saturated, equal scores."""
    rng = np.random.default_rng(1)
    anc = anchors("tf", 64, 64)
    out = []
    for i, cfg in enumerate(CONFIGS):
        scale, zp = (0.11, -20) if i % 2 == 0 else (0.043, 7)
        codes = rng.integers(-40, 40, (len(anc), 4)).astype(np.int8)
        logits = rng.integers(-128, 128, (len(anc), 6)).astype(np.int8)
        logits[:5, 2] = 127
        out.append((np.concatenate([codes.ravel(), logits.ravel()]), scale, zp, anc, cfg))
    return out


def _argmax_maps():
    rng = np.random.default_rng(2)
    ties = rng.integers(-2, 2, (1, 9, 11, 4)).astype(np.int8)    # many ties
    return [ties, rng.integers(-128, 128, (1, 13, 7, 21)).astype(np.int8)]


def _check(driver) -> list[int]:
    cases, maps = _cases(), _argmax_maps()
    records = [detect_record(*c) for c in cases] + [argmax_record(m) for m in maps]
    got = run(driver, records, ["detect"] * len(cases) + ["argmax"] * len(maps))
    n_found = []
    for (raw, scale, zp, anc, cfg), (det, _) in zip(cases, got):
        a = len(anc)
        want = postprocess_int8(raw[:4 * a].reshape(a, 4), raw[4 * a:].reshape(a, -1),
                                scale, zp, anc, cfg)
        for g, w in ((det.boxes, want.boxes), (det.classes, want.classes),
                     (det.scores, want.scores)):
            np.testing.assert_array_equal(g, w, err_msg=str(cfg))
        n_found.append(len(want.scores))
    for m, (am, _) in zip(maps, got[len(cases):]):
        np.testing.assert_array_equal(am, np.argmax(m, -1).ravel().astype(np.int8))
    return n_found


@pytest.mark.needs("gcc")
def test_c_postprocess_equals_host_module_under_sanitizers(tmp_path):
    n = _check(build_host(tmp_path))
    assert n[0] == 40 and n[1] == 10 and n[2] == 8   # max_detections x 2 classes, top_k
    assert n[4] == 12 and 12 < n[5] <= 50            # regular: merge truncated / not


@pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("machine", ["mps2-an386", "mps2-an500", "mps3-an547"])
def test_c_postprocess_equals_host_module_in_qemu(machine, tmp_path):
    """M4 (double in software), M7 and M55 (double FPU: no fused multiply-add allowed)."""
    _check(build_qemu(machine, tmp_path))
