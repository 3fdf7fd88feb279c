"""Fashion-MNIST from the Debian package's gzipped idx files, read with numpy."""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edgemobilenet.errors import EdgembError

from .tensors import ImageTensors
from .transforms import channel_stats

ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = [0.2860], [0.3530]
MAX_BYTES = 4 << 30  # the split is held preprocessed in memory


def preprocess(resolution: int = 32) -> dict:
    """Upsample 28x28 to `resolution`; Fashion-MNIST's own mean/std."""
    return {"mean": list(MEAN), "std": list(STD), "resize": resolution, "crop": resolution}


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise EdgembError(f"{path}: cannot read Fashion-MNIST file ({e}); "
                          "install the Debian package dataset-fashion-mnist") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise EdgembError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise EdgembError(f"{path}: idx file is truncated")
    return arr.reshape(shape)


@functools.lru_cache(maxsize=2)
def load_raw(train: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)): 60k train or 10k test."""
    prefix = "train" if train else "t10k"
    images = _read_idx(ROOT / f"{prefix}-images-idx3-ubyte.gz")
    labels = _read_idx(ROOT / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise EdgembError(f"{ROOT}: {prefix} images and labels differ in count")
    return images, labels


def open_fashion_mnist(train: bool, preprocess: dict, in_channels: int) -> ImageTensors:
    """The whole split as normalised float32 tensors (N, C, crop, crop)."""
    images, labels = load_raw(train)
    resize, crop = int(preprocess["resize"]), int(preprocess["crop"])
    need = len(images) * in_channels * crop * crop * 4
    if need > MAX_BYTES:
        raise EdgembError(f"fashion-mnist: {len(images)} images at {crop}x{crop}x{in_channels} "
                          f"need {need / 2**30:.1f} GiB in memory (limit {MAX_BYTES >> 30} GiB); "
                          "use a smaller resolution or fewer channels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    if resize and resize != x.shape[-1]:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False,
                          antialias=resize < x.shape[-1])
    top = (x.shape[-1] - crop) // 2
    if top < 0:
        raise EdgembError(f"fashion-mnist: crop {crop} is larger than the {x.shape[-1]}px images")
    x = x[:, :, top:top + crop, top:top + crop].expand(-1, in_channels, -1, -1)
    mean, std = channel_stats(preprocess, in_channels)
    x = ((x - mean) / std).contiguous()
    return ImageTensors(x, torch.from_numpy(labels.astype(np.int64)), CLASSES)
