"""CLI-side glue: a MODEL argument -> QGraph.

MODEL is a `.qgraph` file (used as is), a float `.onnx` file, or anything `load_model`
takes (a zoo architecture with options, `default`, an `edgemb train` checkpoint, a
torchvision-format state dict with an architecture). Float models are quantized here with
`quant.convert` on calibration images: crops of the bundled sample photos (`photos`),
Gaussian noise (`random`), or a dataset (`fashion-mnist`, an ImageFolder directory, a CSV).
Backends never import this module: it pulls in torch and the model zoo.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.qgraph import QGraph


@dataclass
class ModelOptions:
    """Options of a float model and of its quantization (None: the model's own)."""

    arch: str | None = None
    width: float | None = None
    resolution: int | None = None
    num_classes: int | None = None
    in_channels: int | None = None
    method: str = "minmax"
    calib: str = "photos"
    calib_count: int = 32
    per_tensor_weights: bool = False
    seed: int = 0


def calibration_batch(spec: str, preprocess: dict, in_channels: int, n: int,
                      seed: int = 0) -> torch.Tensor:
    """(n, C, H, W) float calibration images from `photos`, `random` or a dataset spec."""
    if n < 1:
        raise EdgembError(f"--calib-count must be >= 1, got {n}")
    from edgemobilenet.data import calibration_images, open_dataset

    crop = int(preprocess["crop"])
    if spec == "photos":
        return calibration_images(preprocess, in_channels, n, seed)
    if spec == "random":
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, in_channels, crop, crop, generator=gen)
    ds = open_dataset(spec, train=True, preprocess=preprocess, in_channels=in_channels)
    if len(ds) == 0:
        raise EdgembError(f"{spec}: calibration dataset is empty")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.stack([ds[int(i)][0] for i in idx])


def load_qgraph(spec: str, opts: ModelOptions,
                progress: Callable[[int], None] | None = None) -> QGraph:
    """The QGraph for a MODEL argument (quantizing float models on the fly)."""
    from edgemobilenet.quant.convert import quantize_float_graph, quantize_module

    if spec.lower().endswith(".qgraph"):
        return qgraph.load(spec)
    meta = {"source": spec, "calibration": opts.calib, "calib_count": opts.calib_count}
    if spec.lower().endswith(".onnx"):
        from edgemobilenet.data.transforms import imagenet_preprocess
        from edgemobilenet.quant.capture_onnx import capture_onnx

        g = capture_onnx(Path(spec))
        c, h, w = g.input_shape
        if h != w:
            raise EdgembError(f"{spec}: input {h}x{w} is not square; calibration crops are")
        calib = calibration_batch(opts.calib, imagenet_preprocess(h), c, opts.calib_count,
                                  opts.seed)
        return quantize_float_graph(g, calib, opts.method, opts.per_tensor_weights, progress,
                                    meta)
    from edgemobilenet.models.loader import load_model

    lm = load_model(spec, arch=opts.arch, width=opts.width, resolution=opts.resolution,
                    num_classes=opts.num_classes, in_channels=opts.in_channels)
    calib = calibration_batch(opts.calib, lm.preprocess, lm.options["in_channels"],
                              opts.calib_count, opts.seed)
    meta.update(arch=lm.arch, **{k: lm.options[k] for k in ("width", "num_classes")})
    return quantize_module(lm.module, calib, opts.method, opts.per_tensor_weights, progress,
                           meta)
