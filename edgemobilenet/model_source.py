"""CLI-side glue: a MODEL argument -> QGraph.

MODEL is a `.qgraph` file (used as is) or anything `quant.sources.load_float_model` reads
(a zoo architecture with options, `default`, an `edgemb train` checkpoint, a
torchvision-format state dict with an architecture, a float `.onnx`), which is then
calibrated and converted exactly as `edgemb quantize` does (same sources, same options).
Backends never import this module: it pulls in torch and the model zoo.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
    method: str = "percentile"
    calib: str | None = None          # None: random inputs; `photos`; a dataset spec
    calib_count: int = 256
    per_tensor_weights: bool = False
    seed: int = 0


def load_qgraph(spec: str, opts: ModelOptions,
                progress: Callable[[int], None] | None = None) -> QGraph:
    """The QGraph for a MODEL argument (quantizing float models on the fly)."""
    if spec.lower().endswith(".qgraph"):
        return qgraph.load(spec)
    from edgemobilenet.quant.sources import load_float_model, post_training_quantize

    fm = load_float_model(spec, arch=opts.arch, width=opts.width, resolution=opts.resolution,
                          num_classes=opts.num_classes, in_channels=opts.in_channels,
                          data_hint=opts.calib)
    return post_training_quantize(fm, opts.calib, opts.method, opts.per_tensor_weights,
                                  opts.calib_count, opts.seed, progress)[0]
