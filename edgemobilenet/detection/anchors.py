"""SSD anchors ("default boxes") for six feature maps, as (cx, cy, w, h) fractions of the image.

Two styles, both with scales 0.2 to 0.95 spread linearly over the six maps:
- `tf` (TF Object Detection API's `ssd_anchor_generator`, the papers' SSDLite): aspect ratios
  {1, 2, 1/2, 3, 1/3} plus a box of the interpolated scale sqrt(s_k * s_k+1), and only 3 boxes
  (0.1 at 1:1, s_0 at 2:1 and 1:2) on the first map (`reduce_boxes_in_lowest_layer`);
- `torchvision` (`DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2, max_ratio=0.95)`): 6 boxes
  on every map, ordered s_k 1:1, interpolated 1:1, 2:1, 1:2, 3:1, 1:3, sizes clipped to 1.
Anchors are ordered map by map, then row (y), column (x), box: the models' output order.
"""
from __future__ import annotations

import math

import numpy as np

STYLES = ("tf", "torchvision")
MIN_SCALE, MAX_SCALE, NUM_MAPS = 0.2, 0.95, 6


def _scales() -> list[float]:
    return [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * k / (NUM_MAPS - 1) for k in range(NUM_MAPS)] \
        + [1.0]


def box_shapes(style: str) -> list[list[tuple[float, float]]]:
    """Per map, the (w, h) of each box at a location."""
    if style not in STYLES:
        raise ValueError(f"anchor style {style!r}: choose one of {', '.join(STYLES)}")
    s = _scales()
    out = []
    for k in range(NUM_MAPS):
        interp = math.sqrt(s[k] * s[k + 1])
        if style == "tf":
            if k == 0:
                specs = [(0.1, 1.0), (s[k], 2.0), (s[k], 0.5)]
            else:
                specs = [(s[k], r) for r in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)] + [(interp, 1.0)]
            out.append([(sc * math.sqrt(r), sc / math.sqrt(r)) for sc, r in specs])
        else:
            shapes = [(s[k], s[k]), (interp, interp)]
            for r in (2.0, 3.0):
                w, h = s[k] * math.sqrt(r), s[k] / math.sqrt(r)
                shapes += [(w, h), (h, w)]
            out.append([(min(w, 1.0), min(h, 1.0)) for w, h in shapes])
    return out


def boxes_per_location(style: str) -> list[int]:
    return [len(b) for b in box_shapes(style)]


def feature_map_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """(H, W) of the six maps: C4 at stride 16, C5 at 32, then four stride-2 extras; every
    stride-2 layer is a padded 3x3 or 5x5 conv, so each halves rounding up."""
    sizes, h, w = [], height, width
    for i in range(9):
        h, w = (h + 1) // 2, (w + 1) // 2
        if i >= 3:
            sizes.append((h, w))
    return sizes


def anchors(style: str, height: int, width: int) -> np.ndarray:
    """(A, 4) float32 (cx, cy, w, h) for an input of `height` x `width`."""
    rows = []
    for (fh, fw), shapes in zip(feature_map_sizes(height, width), box_shapes(style)):
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) / fh, (np.arange(fw) + 0.5) / fw,
                             indexing="ij")
        wh = np.asarray(shapes, dtype=np.float64)                      # (B, 2)
        grid = np.stack([cx, cy], -1).reshape(-1, 1, 2)                # (HW, 1, 2)
        a = np.concatenate([np.broadcast_to(grid, (fh * fw, len(shapes), 2)),
                            np.broadcast_to(wh, (fh * fw, len(shapes), 2))], -1)
        rows.append(a.reshape(-1, 4))
    return np.concatenate(rows).astype(np.float32)
