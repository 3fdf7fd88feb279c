"""Datasets: Fashion-MNIST from disk, ImageFolder and CSV of real image files, photo crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from edgemobilenet.data import calibration_images, default_preprocess, open_dataset
from edgemobilenet.data.fashion_mnist import CLASSES
from edgemobilenet.errors import EdgembError

PRE = {"mean": [0.5], "std": [0.25], "resize": 32, "crop": 32}


def test_fashion_mnist_splits():
    pre = default_preprocess("fashion-mnist", 32)
    train = open_dataset("fashion-mnist", train=True, preprocess=pre, in_channels=1)
    test = open_dataset("fashion-mnist", train=False, preprocess=pre, in_channels=3)
    assert (len(train), len(test)) == (60000, 10000)
    x, y = test[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    assert train.classes == CLASSES
    assert abs(float(train.images.mean())) < 0.05 and abs(float(train.images.std()) - 1) < 0.1
    assert sorted(torch.bincount(test.labels).tolist()) == [1000] * 10


def _png(path, size, mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0]) + (() if mode == "L" else (3,)), value, np.uint8)
    if mode == "RGB":
        arr[..., 0] = 255 - value
    Image.fromarray(arr, mode).save(path)


def test_image_folder_splits_and_values(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for c, cls in enumerate(("ant", "bee")):
            for i in range(n):
                _png(tmp_path / split / cls / f"{i}.png", (40, 48), value=64 * (c + 1))
    train = open_dataset(str(tmp_path), train=True, preprocess=PRE, in_channels=1)
    val = open_dataset(str(tmp_path), train=False, preprocess=PRE, in_channels=1)
    assert (len(train), len(val), train.classes) == (6, 4, ["ant", "bee"])
    x, y = val[3]
    assert x.shape == (1, 32, 32) and y == 1
    torch.testing.assert_close(x, torch.full((1, 32, 32), (128 / 255 - 0.5) / 0.25))
    x3, _ = open_dataset(str(tmp_path), train=True, preprocess=PRE, in_channels=3)[0]
    assert x3.shape == (3, 32, 32)


def test_csv_relative_paths(tmp_path):
    _png(tmp_path / "img" / "a.png", (32, 32), value=0)
    _png(tmp_path / "img" / "b.png", (32, 32), value=255)
    (tmp_path / "list.csv").write_text("path,label\nimg/a.png,0\nimg/b.png,3\n")
    ds = open_dataset(str(tmp_path / "list.csv"), train=False, preprocess=PRE, in_channels=1)
    assert len(ds) == 2 and ds[1][1] == 3 and len(ds.classes) == 4
    assert float(ds[1][0].max()) == pytest.approx((1 - 0.5) / 0.25)


def test_errors_name_the_path(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(EdgembError, match="empty.*no images"):
        open_dataset(str(tmp_path / "empty"), train=True, preprocess=PRE, in_channels=1)
    _png(tmp_path / "rgb" / "cls" / "x.png", (32, 32), mode="RGB")
    ds = open_dataset(str(tmp_path / "rgb"), train=True, preprocess=PRE, in_channels=1)
    with pytest.raises(EdgembError, match=r"x\.png: image has colour channels"):
        ds[0]
    (tmp_path / "bad" / "cls").mkdir(parents=True)
    (tmp_path / "bad" / "cls" / "y.png").write_bytes(b"not a png")
    ds = open_dataset(str(tmp_path / "bad"), train=True, preprocess=PRE, in_channels=1)
    with pytest.raises(EdgembError, match=r"y\.png: cannot read image"):
        ds[0]
    _png(tmp_path / "size" / "cls" / "z.png", (20, 20))
    ds = open_dataset(str(tmp_path / "size"), train=True, in_channels=1,
                      preprocess={**PRE, "resize": 0})
    with pytest.raises(EdgembError, match=r"z\.png: image is 20x20, expected 32x32"):
        ds[0]
    (tmp_path / "l.csv").write_text("missing.png,0\n")
    with pytest.raises(EdgembError, match="l.csv:1: image .*missing.png does not exist"):
        open_dataset(str(tmp_path / "l.csv"), train=True, preprocess=PRE, in_channels=1)
    with pytest.raises(EdgembError, match="no such dataset"):
        open_dataset(str(tmp_path / "nope"), train=True, preprocess=PRE, in_channels=1)


def test_calibration_images_are_varied_real_crops():
    pre = default_preprocess("imagenet", 64)
    a = calibration_images(pre, 3, 12, seed=1)
    assert a.shape == (12, 3, 64, 64) and a.dtype == torch.float32
    torch.testing.assert_close(a, calibration_images(pre, 3, 12, seed=1))
    assert not torch.equal(a, calibration_images(pre, 3, 12, seed=2))
    per_image = a.flatten(1)
    assert float(per_image.std(1).min()) > 0.1  # photos, not constants
    assert float((per_image[:6, None] - per_image[None, :6]).abs().mean()) > 0.1  # distinct
    assert calibration_images(pre, 1, 2, seed=0).shape == (2, 1, 64, 64)
