"""Datasets and preprocessing: Fashion-MNIST, ImageFolder directories, CSV lists, and
calibration crops of real photos.

Every dataset yields `(float32 tensor (C, H, W) normalised, int label)`.
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from edgemobilenet.errors import EdgembError

from . import composite, fashion_mnist
from .composite import DenseSet
from .dense_files import open_coco, open_mask_folder
from .folder import open_csv, open_image_folder
from .photos import calibration_images
from .transforms import imagenet_preprocess

__all__ = ["open_dataset", "open_dense_dataset", "calibration_images", "default_preprocess",
           "imagenet_preprocess", "DenseSet"]

# composited Fashion-MNIST set sizes (images) per split
DENSE_COUNTS = {True: 4000, False: 500}


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


def dense_preprocess(spec: str, resolution: int) -> dict:
    """Normalisation of a detection/segmentation set: Fashion-MNIST's for the composited
    sets, ImageNet's (no crop: images are resized to the square input) otherwise."""
    if spec == "fashion-mnist":
        return composite.preprocess(resolution)
    return {**imagenet_preprocess(resolution), "resize": 0}


def open_dense_dataset(spec: str, task: str, *, train: bool, resolution: int,
                       in_channels: int, count: int | None = None) -> DenseSet:
    """Detection or segmentation data: `fashion-mnist` (the composited sets, `count` images,
    default 4000 train / 500 test), a COCO-style JSON (detection) or an images/ + masks/ tree
    (segmentation); all held in memory."""
    pre = dense_preprocess(spec, resolution)
    if spec == "fashion-mnist":
        ds = composite.composite(train, count or DENSE_COUNTS[train], resolution)
        if in_channels != 1:
            ds = DenseSet(ds.images.expand(-1, in_channels, -1, -1).contiguous(), ds.boxes,
                          ds.labels, ds.masks, ds.classes)
        return ds
    path = Path(spec)
    if task == "detection" and (path.suffix.lower() == ".json" or path.is_dir()):
        return open_coco(path, train=train, resolution=resolution, preprocess=pre,
                         in_channels=in_channels)
    if task == "segmentation" and path.is_dir():
        return open_mask_folder(path, train=train, resolution=resolution, preprocess=pre,
                                in_channels=in_channels)
    raise EdgembError(f"{spec}: {task} data is `fashion-mnist` (composited), "
                      + ("a COCO-style .json file or its directory" if task == "detection"
                         else "a directory with images/ and masks/"))
