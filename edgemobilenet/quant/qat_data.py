"""Labelled training batches for QAT from a dataset spec."""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from edgemobilenet.data import open_dataset
from edgemobilenet.data.tensors import ImageTensors
from edgemobilenet.quant.sources import FloatModel, subset_images
from edgemobilenet.train import batches


def qat_batches(spec: str, fm: FloatModel, batch_size: int, limit: int | None, seed: int = 0
                ) -> tuple[Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]], int]:
    """(epoch -> shuffled batches, steps per epoch) over the training split of `spec`."""
    ds = open_dataset(spec, train=True, preprocess=fm.preprocess,
                      in_channels=fm.graph.input_shape[0])
    if limit is not None and limit < len(ds):
        x, y = subset_images(ds, limit, seed)
        ds = ImageTensors(x, y, getattr(ds, "classes", []))
    steps = -(-len(ds) // batch_size)

    def epoch_batches(epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return batches(ds, batch_size, True, torch.Generator().manual_seed(seed + epoch))

    return epoch_batches, steps
