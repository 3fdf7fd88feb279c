"""Device post-processing of a detector or segmenter, run in model.c right after the last
layer (firmware/kernels/portable/emb_postprocess.c): TFLite_Detection_PostProcess fast or
regular NMS on the raw int8 output, or the per-pixel int8 argmax. Its scratch and result live in the
arena, beside the model's output tensor, and are counted in the memory plan.

The constants (anchors, the int8 score threshold, the 256-entry score table) are computed
offline by the caller (edgemobilenet/detection/device.py); this module only lays them out."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgemobilenet.quant.qgraph import QGraph

from .planner import MemoryPlan

CANDIDATE_BYTES = 28      # sizeof(emb_detect_candidate_t)
DETECTION_BYTES = 24      # sizeof(emb_detection_t)


@dataclass(frozen=True)
class DetectPost:
    """Fast or regular NMS on the raw output: A x 4 codes then A x K logits, one (scale,
    zero point). `config`: the host NMSConfig's fields (thresholds, limits, box coder
    scales), as in the manifest."""

    anchors: np.ndarray          # (A, 4) float32 cx, cy, w, h
    num_classes: int             # K, the background included
    q_threshold: int
    score_table: np.ndarray      # (256,) float32
    top_k: int                   # candidates (per class with regular NMS)
    config: dict

    def result_bytes(self) -> int:
        c = self.config
        k = 1 if c["use_regular_nms"] else min(c["max_classes_per_detection"],
                                                self.num_classes - 1)
        return 4 + DETECTION_BYTES * c["max_detections"] * k

    def scratch_bytes(self) -> int:
        return CANDIDATE_BYTES * self.top_k


@dataclass(frozen=True)
class ArgmaxPost:
    """Per-pixel argmax over the output's channels (NHWC): an int8 class map."""

    def result_bytes(self, pixels: int) -> int:
        return pixels

    def scratch_bytes(self) -> int:
        return 0


Post = DetectPost | ArgmaxPost


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def place(g: QGraph, plan: MemoryPlan, post: Post) -> tuple[MemoryPlan, int, int]:
    """(plan with the arena grown if needed, result offset, scratch offset): both after the
    output tensor's live range ends, so anywhere in the arena outside the output tensor."""
    out = g.outputs[0]
    o, s = plan.offsets[out], plan.sizes[out]
    shape = g.tensor(out).shape
    res = post.result_bytes(int(np.prod(shape[:-1]))) if isinstance(post, ArgmaxPost) \
        else post.result_bytes()
    need = _align(res, 8) + post.scratch_bytes()
    start = 0 if need <= o else _align(o + s, 8)
    end = start + need
    if end > plan.arena_bytes:
        plan = replace(plan, arena_bytes=_align(end, plan.alignment))
    return plan, start, start + _align(res, 8)


def _floats(name: str, arr: np.ndarray, attrs: str) -> str:
    vals = ", ".join(f"{float(v)!r}f" if np.isfinite(v) else "0.0f"
                     for v in np.asarray(arr, np.float32).ravel())
    return f"static const float {name}[{arr.size}] {attrs} = {{{vals}}};\n"


def c_source(g: QGraph, post: Post, out_ptr: str, result_off: int, scratch_off: int,
             attrs: str) -> str:
    """Constants, `post_run()` (called after a full run) and `emb_model_postprocessed()`."""
    t = g.tensor(g.outputs[0])
    if isinstance(post, ArgmaxPost):
        pixels, ch = int(np.prod(t.shape[:-1])), int(t.shape[-1])
        return (f"static void post_run(void)\n{{\n    emb_argmax_channels({out_ptr}, {pixels}, "
                f"{ch}, arena + {result_off});\n}}\n\n"
                "const int8_t *emb_model_postprocessed(uint32_t *size)\n{\n"
                f"    if (size) *size = {pixels}u;\n    return arena + {result_off};\n}}\n")
    a = len(post.anchors)
    if a * (4 + post.num_classes) != int(np.prod(t.shape)):
        raise ValueError(f"detector output {t.name}: {int(np.prod(t.shape))} values, not "
                         f"{a} anchors x (4 + {post.num_classes})")
    c = post.config
    scales = ", ".join(repr(float(c[k])) for k in ("x_scale", "y_scale", "w_scale", "h_scale"))
    return (_floats("post_anchors", post.anchors, attrs)
            + _floats("post_scores", post.score_table, attrs)
            + "static const emb_detect_params_t post_params = {\n"
            f"    {a}, {post.num_classes}, post_anchors, post_scores, {float(t.scale)!r}f, "
            f"{int(t.zero_point)},\n    {post.q_threshold}, {post.top_k}, "
            f"{c['max_detections']}, {c['max_classes_per_detection']}, "
            f"{int(c['use_regular_nms'])}, {c['detections_per_class']},\n    "
            f"{float(c['iou_threshold'])!r}, {{{scales}}}\n}};\n\n"
            "static void post_run(void)\n{\n"
            f"    int32_t *count = (int32_t *)(void *)(arena + {result_off});\n"
            f"    *count = emb_detect_postprocess(&post_params, {out_ptr}, arena + {scratch_off}, "
            f"(emb_detection_t *)(void *)(arena + {result_off} + 4));\n}}\n\n"
            "const int8_t *emb_model_postprocessed(uint32_t *size)\n{\n"
            f"    const int32_t *count = (const int32_t *)(const void *)(arena + {result_off});\n"
            f"    if (size) *size = 4u + (uint32_t)*count * {DETECTION_BYTES}u;\n"
            f"    return arena + {result_off};\n}}\n")


def manifest_record(post: Post, result_off: int, scratch_off: int) -> dict:
    if isinstance(post, ArgmaxPost):
        return {"kind": "argmax", "result_offset": result_off}
    return {"kind": "detect", "anchors": len(post.anchors), "q_threshold": post.q_threshold,
            "top_k": post.top_k, "config": post.config, "result_offset": result_off,
            "result_bytes": post.result_bytes(), "scratch_offset": scratch_off,
            "scratch_bytes": post.scratch_bytes(), "decode": "double, candidates only",
            "nms": "regular" if post.config["use_regular_nms"] else "fast"}
