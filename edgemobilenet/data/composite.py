"""Detection and segmentation sets composited from real Fashion-MNIST items.

Each image is a `size` x `size` grayscale canvas with a faint deterministic texture and 1 to
`max_items` Fashion-MNIST items pasted at varied scales (20 % to 60 % of the side) at places
where they do not overlap, so every box and every mask pixel is known exactly: an item's mask
is where its resized intensity exceeds `MASK_LEVEL`, its box the tight box around that mask.
Labels are the Fashion-MNIST class + 1 (0 is the background). The train split draws items
from Fashion-MNIST's training images, the test split from its test images; everything
follows from (split, count, size, seed).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .fashion_mnist import CLASSES, MEAN, STD, load_raw

MASK_LEVEL = 0.2          # of the item's full intensity range (0..1)
BACKGROUND = "background"


@dataclass
class DenseSet:
    """Composited images (N, 1, S, S) normalised with Fashion-MNIST's statistics, per-image
    boxes (k, 4) as (x1, y1, x2, y2) fractions of the side and labels (k,), and the per-pixel
    class map (N, S, S) int64."""

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    masks: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return len(self.images)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast smooth noise (0..0.12): a background that is not simply zero."""
    coarse = rng.random((1, 1, max(2, size // 8), max(2, size // 8))).astype(np.float32)
    up = F.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bilinear",
                       align_corners=False)
    return up[0, 0].numpy() * 0.12


def _place(rng: np.random.Generator, size: int, side: int, taken: list[tuple[int, ...]]
           ) -> tuple[int, int] | None:
    """Top-left corner of a side x side square not overlapping `taken` (30 tries)."""
    for _ in range(30):
        y, x = (int(v) for v in rng.integers(0, size - side + 1, 2))
        if all(x + side <= a or a + s <= x or y + side <= b or b + s <= y for a, b, s in taken):
            return x, y
    return None


@functools.lru_cache(maxsize=4)
def composite(train: bool, count: int, size: int = 96, seed: int = 0,
              max_items: int = 4) -> DenseSet:
    """`count` composited images of `size` x `size` (see the module docstring)."""
    items, item_labels = load_raw(train)
    rng = np.random.default_rng([seed, int(train), size])
    images = np.empty((count, size, size), np.float32)
    masks = np.zeros((count, size, size), np.int64)
    boxes, labels = [], []
    for i in range(count):
        canvas = _texture(rng, size)
        taken: list[tuple[int, int, int]] = []
        img_boxes, img_labels = [], []
        for _ in range(int(rng.integers(1, max_items + 1))):
            side = int(round(size * rng.uniform(0.2, 0.6)))
            at = _place(rng, size, side, taken)
            if at is None:
                continue
            k = int(rng.integers(len(items)))
            item = torch.from_numpy(items[k].astype(np.float32) / 255.0)[None, None]
            item = F.interpolate(item, size=(side, side), mode="bilinear",
                                 align_corners=False, antialias=True)[0, 0].numpy()
            fg = item > MASK_LEVEL
            if not fg.any():
                continue
            x, y = at
            taken.append((x, y, side))
            region = canvas[y:y + side, x:x + side]
            canvas[y:y + side, x:x + side] = np.where(fg, np.maximum(item, region), region)
            masks[i, y:y + side, x:x + side][fg] = int(item_labels[k]) + 1
            rows, cols = np.nonzero(fg)
            img_boxes.append([(x + cols.min()) / size, (y + rows.min()) / size,
                              (x + cols.max() + 1) / size, (y + rows.max() + 1) / size])
            img_labels.append(int(item_labels[k]) + 1)
        images[i] = canvas
        boxes.append(torch.tensor(img_boxes, dtype=torch.float32).reshape(-1, 4))
        labels.append(torch.tensor(img_labels, dtype=torch.int64))
    x = (torch.from_numpy(images)[:, None] - MEAN[0]) / STD[0]
    return DenseSet(x, boxes, labels, torch.from_numpy(masks), [BACKGROUND] + list(CLASSES))


def preprocess(resolution: int) -> dict:
    """The composited sets' normalisation (Fashion-MNIST's), images already `resolution`."""
    return {"mean": list(MEAN), "std": list(STD), "resize": 0, "crop": resolution}
