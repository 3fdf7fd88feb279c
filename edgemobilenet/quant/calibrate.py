"""Calibration: run the float graph over batches and observe every tensor's range."""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.floatgraph import FloatGraph, run
from edgemobilenet.quant.observers import make_observer

Ranges = dict[str, tuple[float, float]]


def calibrate(g: FloatGraph, batches: Iterable[torch.Tensor], method: str = "minmax",
              progress: Callable[[int], None] | None = None) -> Ranges:
    """Per-tensor (lo, hi) over all batches (NCHW float). `progress(n)` gets images done."""
    observers = {t: make_observer(method) for t in g.tensors()}
    seen = 0
    with torch.no_grad():
        for batch in batches:
            if batch.dim() != 4 or tuple(batch.shape[1:]) != tuple(g.input_shape):
                raise EdgembError(f"calibration batch has shape {tuple(batch.shape)}, the model "
                                  f"expects (N, {', '.join(map(str, g.input_shape))})")
            values = run(g, batch.float(), keep_all=True)
            for name, obs in observers.items():
                obs.update(values[name])
            seen += batch.shape[0]
            if progress:
                progress(seen)
    if seen == 0:
        raise EdgembError("calibration got no images")
    return {name: obs.range() for name, obs in observers.items()}


def batched(x: torch.Tensor, batch_size: int = 16) -> Iterable[torch.Tensor]:
    """Split an (N, C, H, W) tensor into batches."""
    for i in range(0, x.shape[0], batch_size):
        yield x[i:i + batch_size]
