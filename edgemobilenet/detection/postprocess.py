"""Host-side detection post-processing: decode box codes and per-class non-maximum
suppression (greedy, as torchvision's `batched_nms`), in numpy."""
from __future__ import annotations

import numpy as np

from .boxes import decode


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        ov = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[ov <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def detect(codes: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           score_threshold: float = 0.01, iou_threshold: float = 0.5, top_k: int = 200,
           max_detections: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: codes (A, 4), logits (A, K) (class 0 = background), anchors (A, 4) ->
    boxes (D, 4) corner fractions clipped to [0, 1], scores (D,) = sigmoid(logit),
    labels (D,) in 1..K-1."""
    scores = sigmoid(logits)
    boxes = np.clip(decode(codes, anchors), 0.0, 1.0)
    out_b, out_s, out_l = [], [], []
    for c in range(1, scores.shape[1]):
        idx = np.nonzero(scores[:, c] > score_threshold)[0]
        idx = idx[np.argsort(-scores[idx, c], kind="stable")[:top_k]]
        kept = idx[nms(boxes[idx], scores[idx, c], iou_threshold)]
        out_b.append(boxes[kept])
        out_s.append(scores[kept, c])
        out_l.append(np.full(len(kept), c))
    b, s, lab = np.concatenate(out_b), np.concatenate(out_s), np.concatenate(out_l)
    order = np.argsort(-s, kind="stable")[:max_detections]
    return b[order], s[order].astype(np.float32), lab[order].astype(np.int64)
