"""The device post-processing of a quantized detector or segmenter, from the spec its QGraph
carries (`postspec`): the offline constants of `tflite_nms.postprocess_int8` (anchors, the
int8 score threshold, the score table) for the MCU backend (backends/mcu/postprocess.py),
which runs them in C after the last layer. Cortex-A runs `tflite_nms` on the host right
after the TVM module instead (`host_postprocess`)."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from edgemobilenet.backends.mcu.postprocess import ArgmaxPost, DetectPost, Post
from edgemobilenet.quant.qgraph import QGraph

from .postspec import from_meta
from .tflite_nms import Detections, dequantize, int8_threshold, postprocess_int8, scores_of


def device_postprocess(g: QGraph) -> Post | None:
    """The post-processing to compile into the firmware, or None (classifiers, imports)."""
    spec = from_meta(g)
    if spec is None:
        return None
    if spec.kind == "argmax":
        return ArgmaxPost()
    t, cfg, a = g.tensor(g.outputs[0]), spec.nms, len(spec.anchors)
    return DetectPost(spec.anchors, spec.num_classes,
                      int8_threshold(t.scale, t.zero_point, cfg.score_threshold),
                      scores_of(dequantize(np.arange(-128, 128), t.scale, t.zero_point)),
                      min(cfg.top_k or a, a), asdict(cfg))


def parse_detections(raw: bytes) -> Detections:
    """The device's get_postprocessed bytes of a detector -> tflite_nms.Detections."""
    n = int(np.frombuffer(raw, "<i4", 1)[0])
    d = np.frombuffer(raw, np.dtype([("box", "<f4", 4), ("cls", "<i4"), ("score", "<f4")]),
                      n, 4)
    return Detections(d["box"].copy(), d["cls"].astype(np.int64), d["score"].copy())


def host_postprocess(g: QGraph, raw: np.ndarray) -> Detections | np.ndarray | None:
    """The same post-processing on the host, on a raw int8 output (Cortex-A: right after
    the TVM module): Detections for a detector, the int8 argmax map for a segmenter (ties:
    the lowest class), None for other models."""
    spec = from_meta(g)
    if spec is None:
        return None
    if spec.kind == "argmax":
        return np.argmax(raw, -1).astype(np.int8)
    t = g.tensor(g.outputs[0])
    flat, a = np.asarray(raw).reshape(-1), len(spec.anchors)
    return postprocess_int8(flat[:4 * a].reshape(a, 4), flat[4 * a:].reshape(a, -1), t.scale,
                            t.zero_point, spec.anchors, spec.nms)
