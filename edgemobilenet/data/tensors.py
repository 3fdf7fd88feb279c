"""Datasets held as tensors in memory and as image files on disk."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Subset

from edgemobilenet.errors import EdgembError

from .transforms import resize_center_crop, to_tensor

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


class ImageTensors(Dataset):
    """Preprocessed images (N, C, H, W) and int64 labels (N,), fully in memory."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str]):
        self.images, self.labels, self.classes = images, labels, classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


class ImageFiles(Dataset):
    """`(path, label)` pairs, each image read, checked and preprocessed on access."""

    def __init__(self, items: list[tuple[Path, int]], classes: list[str], preprocess: dict,
                 in_channels: int):
        self.items, self.classes = items, classes
        self.preprocess, self.in_channels = preprocess, in_channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        return load_image(path, self.preprocess, self.in_channels), label


def load_image(path: Path, preprocess: dict, in_channels: int) -> torch.Tensor:
    """Read one image file; EdgembError naming `path` if unreadable or of the wrong kind."""
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, UnidentifiedImageError) as e:
        raise EdgembError(f"{path}: cannot read image ({e})") from None
    gray = img.mode in _GRAY_MODES or _looks_gray(img)
    if in_channels == 1 and not gray:
        raise EdgembError(f"{path}: image has colour channels (mode {img.mode}) "
                          "but the model takes 1 channel")
    if in_channels not in (1, 3):
        raise EdgembError(f"{path}: image files can feed 1 or 3 channels, not {in_channels}")
    img = img.convert("L" if in_channels == 1 else "RGB")
    resize, crop = int(preprocess["resize"]), int(preprocess["crop"])
    if not resize and img.size != (crop, crop):
        raise EdgembError(f"{path}: image is {img.size[0]}x{img.size[1]}, "
                          f"expected {crop}x{crop} (preprocessing does not resize)")
    if min(img.size) < 1:
        raise EdgembError(f"{path}: image is empty")
    return to_tensor(resize_center_crop(img, resize, crop), preprocess, in_channels)


def _looks_gray(img: Image.Image) -> bool:
    """True when a colour-mode image has identical R, G and B planes."""
    rgb = img.convert("RGB")
    r, g, b = rgb.split()
    return r.tobytes() == g.tobytes() == b.tobytes()


def limit_dataset(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """A random subset of `n` items (the whole dataset when n is None or larger)."""
    if n is None or n >= len(ds):
        return ds
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
    if isinstance(ds, ImageTensors):
        return ImageTensors(ds.images[idx], ds.labels[idx], ds.classes)
    return Subset(ds, idx.tolist())
