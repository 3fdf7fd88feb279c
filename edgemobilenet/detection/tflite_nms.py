"""Host post-processing with the semantics of TFLite's `TFLite_Detection_PostProcess`
(tensorflow/lite/kernels/detection_postprocess.cc), written to be mirrored in C on a device.

Semantics kept from TFLite: scores above `score_threshold` (>=) are candidates; candidates are
sorted by score, stably (ties keep anchor order); greedy NMS suppresses a later box whose IoU
with a kept one is > `iou_threshold` (IoU 0 when either box has no area); fast NMS (default)
ranks each anchor by its best class and reports its `max_classes_per_detection` best
classes; regular NMS runs per class (`detections_per_class` each) and keeps the
`max_detections` best overall. Box decoding is TFLite's center-size decoding with the box
coder's scales (`x_scale`, `y_scale`, `w_scale`, `h_scale`; SSD's 10/10/5/5), computed in
double from float32 inputs.

Ours, not TFLite's: codes and boxes are in (x, y) order ((dx, dy, dw, dh) codes, (x1, y1,
x2, y2) boxes); scores are `sigmoid(logit)` of the model's raw logits (TF graphs apply the
logistic before the op); the merge of regular NMS sorts stably (TFLite's partial sort
leaves the order of equal scores unspecified); `top_k` may cap the candidates.

`postprocess_int8` is what a microcontroller runs: it never dequantizes every anchor. The
score threshold becomes one int8 logit threshold (the smallest q whose score passes), the
raw int8 logits are compared and ranked through a 256-entry score table, and only the
survivors are decoded. It returns exactly what `postprocess` returns on the dequantized
outputs (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import SCALES


@dataclass(frozen=True)
class NMSConfig:
    """TFLite_Detection_PostProcess options (names as in TF's exporter)."""

    max_detections: int = 10
    max_classes_per_detection: int = 1
    detections_per_class: int = 100
    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    use_regular_nms: bool = False
    top_k: int | None = None      # ours: keep only the top_k candidates (None: all)
    x_scale: float = SCALES[0]
    y_scale: float = SCALES[1]
    w_scale: float = SCALES[2]
    h_scale: float = SCALES[3]


@dataclass
class Detections:
    """boxes (D, 4) (x1, y1, x2, y2) fractions, classes (D,) 0-based without the background,
    scores (D,); D <= max_detections (fast NMS: times max_classes_per_detection)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray


def scores_of(logits: np.ndarray) -> np.ndarray:
    """float32 sigmoid, the one score function of both paths."""
    x = np.asarray(logits, np.float32)
    return (np.float32(1.0) / (np.float32(1.0) + np.exp(-x))).astype(np.float32)


def decode(codes: np.ndarray, anchors: np.ndarray, cfg: NMSConfig = NMSConfig()) -> np.ndarray:
    """TFLite's center-size decoding (double arithmetic, float32 result)."""
    c, a = np.asarray(codes, np.float32).astype(np.float64), anchors.astype(np.float64)
    cx = (c[:, 0] / cfg.x_scale * a[:, 2] + a[:, 0]).astype(np.float32)
    cy = (c[:, 1] / cfg.y_scale * a[:, 3] + a[:, 1]).astype(np.float32)
    hw = (0.5 * np.exp(c[:, 2] / cfg.w_scale) * a[:, 2]).astype(np.float32)
    hh = (0.5 * np.exp(c[:, 3] / cfg.h_scale) * a[:, 3]).astype(np.float32)
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    area_a = (a[3] - a[1]) * (a[2] - a[0])
    area_b = (b[3] - b[1]) * (b[2] - b[0])
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter = max(min(a[3], b[3]) - max(a[1], b[1]), np.float32(0)) * \
        max(min(a[2], b[2]) - max(a[0], b[0]), np.float32(0))
    return float(inter / (area_a + area_b - inter))


def _single_class(keys: np.ndarray, candidates: np.ndarray, box_of, limit: int,
                  cfg: NMSConfig) -> list[int]:
    """Greedy NMS over `candidates` (anchor indices, in anchor order) ranked by `keys`
    (descending, stable); `box_of(anchor)` decodes one box on demand."""
    order = candidates[np.argsort(-keys[candidates], kind="stable")]
    if cfg.top_k is not None:
        order = order[:cfg.top_k]
    boxes = [box_of(int(i)) for i in order]
    active = np.ones(len(order), bool)
    selected: list[int] = []
    for i in range(len(order)):
        if len(selected) >= limit:
            break
        if not active[i]:
            continue
        selected.append(int(order[i]))
        active[i] = False
        for j in range(i + 1, len(order)):
            if active[j] and _iou(boxes[i], boxes[j]) > cfg.iou_threshold:
                active[j] = False
    return selected


def _run(codes_of, class_keys: np.ndarray, class_scores, passes, cfg: NMSConfig,
         anchors: np.ndarray) -> Detections:
    """Shared by both paths: `class_keys` (A, C) orders candidates (scores or their ranks),
    `class_scores(a, c)` gives the reported float score, `passes` (A, C) the threshold."""
    box_of = lambda i: decode(codes_of(i)[None], anchors[i:i + 1], cfg)[0]  # noqa: E731
    n_cls = class_keys.shape[1]
    out_a, out_c = [], []
    if not cfg.use_regular_nms:
        k = min(cfg.max_classes_per_detection, n_cls)
        ranked = np.argsort(-class_keys, axis=1, kind="stable")[:, :k]
        best = ranked[:, 0]
        keys = class_keys[np.arange(len(best)), best]
        cand = np.nonzero(passes[np.arange(len(best)), best])[0]
        for a in _single_class(keys, cand, box_of, cfg.max_detections, cfg):
            out_a += [a] * k
            out_c += list(ranked[a])
    else:
        pool: list[tuple[int, int]] = []
        for c in range(n_cls):
            cand = np.nonzero(passes[:, c])[0]
            pool += [(a, c) for a in _single_class(class_keys[:, c], cand, box_of,
                                                    cfg.detections_per_class, cfg)]
            pool.sort(key=lambda ac: -class_keys[ac])       # stable merge
            pool = pool[:cfg.max_detections]
        out_a, out_c = [a for a, _ in pool], [c for _, c in pool]
    boxes = np.stack([box_of(a) for a in out_a]) if out_a else np.zeros((0, 4), np.float32)
    return Detections(boxes, np.asarray(out_c, np.int64),
                      np.asarray([class_scores(a, c) for a, c in zip(out_a, out_c)],
                                 np.float32))


def postprocess(codes: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
                cfg: NMSConfig = NMSConfig()) -> Detections:
    """Float path: codes (A, 4), logits (A, K) with column 0 the background, anchors (A, 4)
    (cx, cy, w, h)."""
    scores = scores_of(logits)[:, 1:]
    codes = np.asarray(codes, np.float32)
    return _run(lambda i: codes[i], scores, lambda a, c: scores[a, c],
                scores >= np.float32(cfg.score_threshold), cfg, anchors)


def int8_threshold(scale: float, zero_point: int, score_threshold: float) -> int:
    """The smallest int8 logit whose score passes (128: none does)."""
    q = np.arange(-128, 128)
    ok = np.nonzero(scores_of(dequantize(q, scale, zero_point)) >= np.float32(score_threshold))[0]
    return int(q[ok[0]]) if len(ok) else 128


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's float32 dequantization: (float(q) - zp) * scale."""
    return (np.asarray(q).astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def postprocess_int8(codes_q: np.ndarray, logits_q: np.ndarray, scale: float, zero_point: int,
                     anchors: np.ndarray, cfg: NMSConfig = NMSConfig()) -> Detections:
    """Device path on raw int8 outputs sharing one (scale, zero point): threshold and rank
    the int8 logits, dequantize and decode only the boxes NMS looks at."""
    table = scores_of(dequantize(np.arange(-128, 128), scale, zero_point))   # 256 floats
    # rank of each int8 value's score: equal scores (saturated sigmoid) share a rank
    rank = np.unique(table, return_inverse=True)[1].astype(np.int16)
    lq = np.asarray(logits_q)[:, 1:].astype(np.int16)
    keys = rank[lq + 128]
    passes = lq >= int8_threshold(scale, zero_point, cfg.score_threshold)
    return _run(lambda i: dequantize(codes_q[i], scale, zero_point), keys,
                lambda a, c: table[lq[a, c] + 128], passes, cfg, anchors)
