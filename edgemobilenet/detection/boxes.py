"""Box coding (SSD / Faster R-CNN, scales 10/10/5/5) and IoU.

Boxes are (x1, y1, x2, y2), anchors (cx, cy, w, h), codes (dx, dy, dw, dh), all as fractions
of the image: `dx = 10 * (cx - cx_a) / w_a`, `dw = 5 * log(w / w_a)`.
"""
from __future__ import annotations

import numpy as np
import torch

SCALES = (10.0, 10.0, 5.0, 5.0)
_CLAMP = float(np.log(1000.0 / 16))   # torchvision's bound on dw, dh before exp


def encode(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """(..., 4) corner boxes -> codes against (..., 4) anchors."""
    w = (boxes[..., 2] - boxes[..., 0]).clamp(min=1e-6)
    h = (boxes[..., 3] - boxes[..., 1]).clamp(min=1e-6)
    cx, cy = boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h
    return torch.stack([SCALES[0] * (cx - anchors[..., 0]) / anchors[..., 2],
                        SCALES[1] * (cy - anchors[..., 1]) / anchors[..., 3],
                        SCALES[2] * torch.log(w / anchors[..., 2]),
                        SCALES[3] * torch.log(h / anchors[..., 3])], -1)


def decode(codes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Codes (..., 4) against anchors (..., 4) -> corner boxes (float32)."""
    codes, anchors = np.asarray(codes, np.float32), np.asarray(anchors, np.float32)
    cx = codes[..., 0] / SCALES[0] * anchors[..., 2] + anchors[..., 0]
    cy = codes[..., 1] / SCALES[1] * anchors[..., 3] + anchors[..., 1]
    w = np.exp(np.minimum(codes[..., 2] / SCALES[2], _CLAMP)) * anchors[..., 2]
    h = np.exp(np.minimum(codes[..., 3] / SCALES[3], _CLAMP)) * anchors[..., 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).astype(np.float32)


def corners(anchors: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    half = anchors[..., 2:] / 2
    return torch.cat([anchors[..., :2] - half, anchors[..., :2] + half], -1)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of corner boxes (N, 4) x (M, 4) -> (N, M)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)
