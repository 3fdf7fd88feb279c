"""The device post-processing of a quantized detector or segmenter, from its QGraph's
metadata: the offline constants of `tflite_nms.postprocess_int8` (anchors, the int8 score
threshold, the score table) for the MCU backend (backends/mcu/postprocess.py), which runs
them in C after the last layer. Cortex-A runs `tflite_nms` on the host right after the TVM
module instead."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from edgemobilenet.backends.mcu.postprocess import ArgmaxPost, DetectPost, Post
from edgemobilenet.quant.qgraph import QGraph

from .anchors import anchors
from .tflite_nms import NMSConfig, dequantize, int8_threshold, postprocess_int8, scores_of

# On the device the candidates are bounded (scratch = 28 bytes each); the host module with
# the same config returns the same detections.
DEVICE_NMS = NMSConfig(top_k=100)


def anchors_of(g: QGraph) -> np.ndarray:
    """The anchors of the detector `g` was quantized from (meta arch and options)."""
    from edgemobilenet.models import build    # torch, only to learn the anchor style

    opts = g.meta["options"]
    model = build(g.meta["arch"], **opts)
    return anchors(model.anchor_style, opts["resolution"], opts["resolution"])


def device_postprocess(g: QGraph, cfg: NMSConfig = DEVICE_NMS) -> Post | None:
    """The post-processing to compile into the firmware, or None (classifiers, imports)."""
    from edgemobilenet.models.zoo import task_of

    arch = g.meta.get("arch")
    if not arch or "options" not in g.meta:
        return None
    task = task_of(arch)
    if task == "segmentation":
        return ArgmaxPost()
    if task != "detection":
        return None
    t = g.tensor(g.outputs[0])
    anc = anchors_of(g)
    k = int(np.prod(t.shape)) // len(anc) - 4
    return DetectPost(anc, k, int8_threshold(t.scale, t.zero_point, cfg.score_threshold),
                      scores_of(dequantize(np.arange(-128, 128), t.scale, t.zero_point)),
                      min(cfg.top_k or len(anc), len(anc)), cfg.max_detections,
                      cfg.max_classes_per_detection, cfg.iou_threshold, asdict(cfg))


def parse_detections(raw: bytes):
    """The device's get_postprocessed bytes of a detector -> tflite_nms.Detections."""
    from .tflite_nms import Detections

    n = int(np.frombuffer(raw, "<i4", 1)[0])
    d = np.frombuffer(raw, np.dtype([("box", "<f4", 4), ("cls", "<i4"), ("score", "<f4")]),
                      n, 4)
    return Detections(d["box"].copy(), d["cls"].astype(np.int64), d["score"].copy())


def host_postprocess(g: QGraph, raw: np.ndarray, cfg: NMSConfig = DEVICE_NMS):
    """Cortex-A (TVM module): the same post-processing on the host right after the module,
    on its raw int8 output: Detections for a detector, the int8 argmax map for a segmenter
    (ties: the lowest class), None for other models."""
    post = device_postprocess(g, cfg)
    if isinstance(post, ArgmaxPost):
        return np.argmax(raw, -1).astype(np.int8)
    if post is None:
        return None
    t = g.tensor(g.outputs[0])
    flat, a = np.asarray(raw).reshape(-1), len(post.anchors)
    return postprocess_int8(flat[:4 * a].reshape(a, 4), flat[4 * a:].reshape(a, -1), t.scale,
                            t.zero_point, post.anchors, cfg)
