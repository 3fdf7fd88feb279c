"""Preprocessing as torchvision does it: resize the shorter side, center crop, normalise.

A preprocess dict is `{"mean": [..], "std": [..], "resize": int, "crop": int}`; mean/std of
length 1 broadcast over channels. `resize == 0` means "no resize": images must already be
`crop` x `crop`.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def imagenet_preprocess(resolution: int = 224) -> dict:
    """ImageNet evaluation preprocessing: resize to resolution/0.875, center crop."""
    return {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "resize": int(resolution / 0.875), "crop": resolution}


def channel_stats(preprocess: dict, in_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as (C, 1, 1) tensors for `in_channels` channels."""
    out = []
    for key in ("mean", "std"):
        v = [float(x) for x in preprocess[key]]
        if len(v) != in_channels:
            v = [sum(v) / len(v)] * in_channels
        out.append(torch.tensor(v, dtype=torch.float32).view(in_channels, 1, 1))
    return out[0], out[1]


def resize_center_crop(img: Image.Image, resize: int, crop: int) -> Image.Image:
    """torchvision's Resize(resize) + CenterCrop(crop) on a PIL image."""
    if resize:
        w, h = img.size
        if w <= h:
            size = (resize, int(resize * h / w))
        else:
            size = (int(resize * w / h), resize)
        img = img.resize(size, Image.BILINEAR)
    w, h = img.size
    left, top = int(round((w - crop) / 2.0)), int(round((h - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def to_tensor(img: Image.Image, preprocess: dict, in_channels: int) -> torch.Tensor:
    """PIL image (mode L or RGB) -> normalised float32 (C, H, W)."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    mean, std = channel_stats(preprocess, in_channels)
    return (x - mean) / std


def to_mode(img: Image.Image, in_channels: int) -> Image.Image:
    """Convert to L (1 channel) or RGB (3 channels)."""
    return img.convert("L" if in_channels == 1 else "RGB")
