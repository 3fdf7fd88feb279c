"""Unlabeled real photos (scikit-image's and matplotlib's samples) as calibration crops."""
from __future__ import annotations

import functools
import math
from pathlib import Path

import matplotlib
import numpy as np
import skimage.data
import torch
from PIL import Image

from .transforms import to_mode, to_tensor


@functools.lru_cache(maxsize=1)
def sample_photos() -> tuple[Image.Image, ...]:
    """astronaut, chelsea, coffee, rocket, motorcycle (left view), grace_hopper as RGB."""
    arrays = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
              skimage.data.rocket(), skimage.data.stereo_motorcycle()[0]]
    photos = [Image.fromarray(np.asarray(a)).convert("RGB") for a in arrays]
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(hopper) as img:
        photos.append(img.convert("RGB"))
    return tuple(photos)


def _random_resized_crop(img: Image.Image, size: int, rng: np.random.Generator,
                         scale: tuple[float, float] = (0.25, 1.0),
                         ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Image.Image:
    """torchvision RandomResizedCrop's sampling, with a center crop as the fallback."""
    w, h = img.size
    for _ in range(10):
        area = w * h * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            break
    else:
        cw = ch = min(w, h)
        left, top = (w - cw) // 2, (h - ch) // 2
    return img.resize((size, size), Image.BILINEAR, box=(left, top, left + cw, top + ch))


def calibration_images(preprocess: dict, in_channels: int, n: int, seed: int = 0) -> torch.Tensor:
    """`n` random-resized crops (with random horizontal flips) of the sample photos,
    preprocessed to (n, in_channels, crop, crop) float32."""
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    crop = int(preprocess["crop"])
    out = torch.empty(n, in_channels, crop, crop)
    for i in range(n):
        img = _random_resized_crop(photos[i % len(photos)], crop, rng)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        out[i] = to_tensor(to_mode(img, in_channels), preprocess, in_channels)
    return out
