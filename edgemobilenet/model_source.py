"""CLI-side glue: a MODEL argument -> QGraph.

MODEL is a `.qgraph` file (used as is), an int8 model file imported with its own
quantization (a quantized `.onnx`), or anything `quant.sources.load_float_model` reads
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


def load_int8_file(spec: str) -> QGraph | None:
    """An already-quantized model file imported with its own scales (a quantized .onnx, an
    int8 .tflite), or None when MODEL is something to quantize."""
    if spec.lower().endswith(".tflite"):
        from edgemobilenet.quant.tflite_import import load

        return load(spec)
    if spec.lower().endswith(".onnx"):
        from edgemobilenet.quant.onnx_qdq_import import import_onnx_int8, is_int8_onnx

        if is_int8_onnx(spec):
            return import_onnx_int8(spec)[0]
    return None


def load_qgraph(spec: str, opts: ModelOptions,
                progress: Callable[[int], None] | None = None) -> QGraph:
    """The QGraph for a MODEL argument (quantizing float models on the fly)."""
    if spec.lower().endswith(".qgraph"):
        return qgraph.load(spec)
    imported = load_int8_file(spec)
    if imported is not None:
        return imported
    from edgemobilenet.quant.sources import load_float_model, post_training_quantize

    fm = load_float_model(spec, arch=opts.arch, width=opts.width, resolution=opts.resolution,
                          num_classes=opts.num_classes, in_channels=opts.in_channels,
                          data_hint=opts.calib)
    return post_training_quantize(fm, opts.calib, opts.method, opts.per_tensor_weights,
                                  opts.calib_count, opts.seed, progress)[0]
