"""What the quantize/eval commands start from: a float model as a FloatGraph, and images.

A MODEL is anything `models.loader.load_model` reads (zoo name, `default`, checkpoint,
torchvision state dict) or a float `.onnx` file. Calibration data is a dataset spec as
`data.open_dataset` takes, `photos` (crops of the bundled unlabeled photos), or nothing
(random inputs: only the graph's structure is meaningful then).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from edgemobilenet.data import (calibration_images, default_preprocess, open_dataset,
                                open_dense_dataset)
from edgemobilenet.data.tensors import ImageTensors
from edgemobilenet.detection.postspec import KEY as POST_KEY
from edgemobilenet.detection.postspec import spec_of_model, to_meta
from edgemobilenet.errors import EdgembError
from edgemobilenet.models.loader import load_model
from edgemobilenet.models.zoo import task_of
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.capture_onnx import capture_onnx
from edgemobilenet.quant.floatgraph import FloatGraph

PHOTOS = "photos"


@dataclass
class FloatModel:
    graph: FloatGraph
    module: nn.Module | None
    arch: str
    options: dict[str, Any]
    preprocess: dict[str, Any]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


def load_float_model(spec: str, *, arch: str | None = None, width: float | None = None,
                     resolution: int | None = None, num_classes: int | None = None,
                     in_channels: int | None = None, data_hint: str | None = None) -> FloatModel:
    """Load MODEL and capture it (BN folded). `data_hint` picks an ONNX model's preprocessing."""
    if spec.lower().endswith(".onnx"):
        g = capture_onnx(spec)
        c, h, _ = g.input_shape
        if resolution is not None and resolution != h or in_channels is not None and \
                in_channels != c:
            raise EdgembError(f"{spec}: the ONNX model's input is {c}x{h}x{h}; --resolution / "
                              f"--in-channels cannot change it")
        pre = default_preprocess(data_hint or "", h)
        opts = {"resolution": h, "in_channels": c, "num_classes": g.shapes[g.output][-1]}
        fm = FloatModel(g, None, arch or "onnx", opts, pre, spec)
    else:
        lm = load_model(spec, arch=arch, width=width, resolution=resolution,
                        num_classes=num_classes, in_channels=in_channels)
        o = lm.options
        g = capture(lm.module, (o["in_channels"], o["resolution"], o["resolution"]),
                    where=lm.source)
        fm = FloatModel(g, lm.module, lm.arch, dict(o), dict(lm.preprocess), lm.source)
    fm.meta = {"arch": fm.arch, "options": fm.options, "preprocess": fm.preprocess,
               "source": fm.source}
    if fm.module is not None and task_of(fm.arch) != "classification":
        o = fm.options
        spec = spec_of_model(task_of(fm.arch), getattr(fm.module, "anchor_style", None),
                             o["resolution"], o["num_classes"], lm.classes)
        fm.meta[POST_KEY] = to_meta(spec)
    return fm


def subset_images(ds: Dataset, n: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` random images and labels of `ds` (all when n is None) as stacked tensors."""
    total = len(ds)
    if total == 0:
        raise EdgembError("the dataset is empty")
    idx = torch.arange(total) if n is None or n >= total else \
        torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]
    if isinstance(ds, ImageTensors):
        return ds.images[idx], ds.labels[idx]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


def calibration_data(spec: str | None, fm: FloatModel, n: int, seed: int = 0
                     ) -> tuple[torch.Tensor, str]:
    """(N, C, H, W) calibration images and a description of where they came from."""
    c, h, w = fm.graph.input_shape
    if spec is None:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, c, h, w, generator=gen), f"{n} random inputs"
    if spec == PHOTOS:
        if h != w:
            raise EdgembError(f"photos: the model input is {h}x{w}; photo crops are square")
        return calibration_images(fm.preprocess, c, n, seed), f"{n} crops of the sample photos"
    if task_of(fm.arch) != "classification":   # detection / segmentation data
        x = open_dense_dataset(spec, task_of(fm.arch), train=True, resolution=h,
                               in_channels=c, count=n).images
        return x, f"{len(x)} images of {spec}"
    ds = open_dataset(spec, train=True, preprocess=fm.preprocess, in_channels=c)
    x, _ = subset_images(ds, n, seed)
    if tuple(x.shape[1:]) != (c, h, w):
        raise EdgembError(f"{spec}: images are {tuple(x.shape[1:])} after preprocessing, the "
                          f"model expects {(c, h, w)}")
    return x, f"{len(x)} images of {spec}"


def post_training_quantize(fm: FloatModel, calib: str | None, method: str, per_tensor: bool,
                           n: int, seed: int = 0,
                           progress: Callable[[int], None] | None = None):
    """Calibrate `fm` on `n` images of `calib` (None: random inputs) and convert it.

    Returns (QGraph, calibration images, where they came from, activation ranges).
    """
    from edgemobilenet.quant.calibrate import batched, calibrate
    from edgemobilenet.quant.convert import convert

    if n < 1:
        raise EdgembError(f"calibration image count must be >= 1, got {n}")
    x, where = calibration_data(calib, fm, n, seed)
    ranges = calibrate(fm.graph, batched(x, 16), method, progress)
    q = convert(fm.graph, ranges, per_tensor, {**fm.meta, "method": method, "calibration": where})
    return q, x, where, ranges
