"""Datasets and preprocessing: Fashion-MNIST, ImageFolder directories, CSV lists, and
calibration crops of real photos.

Every dataset yields `(float32 tensor (C, H, W) normalised, int label)`.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from edgemobilenet.errors import EdgembError

from . import fashion_mnist
from .folder import open_csv, open_image_folder
from .photos import calibration_images
from .transforms import imagenet_preprocess

__all__ = ["open_dataset", "calibration_images", "default_preprocess", "imagenet_preprocess"]


def default_preprocess(spec: str, resolution: int) -> dict:
    """Preprocessing for training on `spec`: Fashion-MNIST's statistics, else ImageNet's."""
    if spec == "fashion-mnist":
        return fashion_mnist.preprocess(resolution)
    return imagenet_preprocess(resolution)


def open_dataset(spec: str, *, train: bool, preprocess: dict, in_channels: int) -> Dataset:
    """`fashion-mnist`, an ImageFolder directory or a CSV file of `path,label` rows.

    ImageFolder: `train/` (train=True) or `val/`/`test/` (train=False) when present, else the
    whole directory; a CSV is always the whole list.
    """
    if spec == "fashion-mnist":
        return fashion_mnist.open_fashion_mnist(train, preprocess, in_channels)
    path = Path(spec)
    if path.is_dir():
        return open_image_folder(path, train=train, preprocess=preprocess,
                                 in_channels=in_channels)
    if path.is_file() and path.suffix.lower() == ".csv":
        return open_csv(path, preprocess=preprocess, in_channels=in_channels)
    if path.exists():
        raise EdgembError(f"{spec}: a dataset is `fashion-mnist`, a directory or a .csv file")
    raise EdgembError(f"{spec}: no such dataset (use `fashion-mnist`, an ImageFolder "
                      "directory or a CSV of path,label rows)")
