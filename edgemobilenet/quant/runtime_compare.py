"""Our int8 QGraph (reference executor) against the imported file's own runtime, on images.

One loop for every imported format: a `FileRuntime` runs the original file (onnxruntime for
an int8 `.onnx`, LiteRT for a `.tflite`) and returns, per image, the int8 input it computed
on (so both sides see the same input) and its int8 output, both in QGraph layout. Reported:
top-1/top-5 of both, top-1 agreement, and the share of images (and of output values) where
the outputs are identical.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
from torch.utils.data import Dataset

from edgemobilenet.quant import reference
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.train import batches


class FileRuntime(Protocol):
    name: str       # the JSON key of its results ("onnxruntime", "litert")

    def quantized_io(self, x_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One float image (1, C, H, W) -> (int8 QGraph input, int8 QGraph output)."""


def compare(q: QGraph, runtime: FileRuntime, ds: Dataset,
            progress: Callable[[int], None] | None = None) -> dict:
    """{"images", "runtime", "edgemb": {top1, top5}, <runtime.name>: {...}, "agreement",
    "exact_images", "exact_values"} as fractions."""
    hits = {"edgemb": [0, 0], runtime.name: [0, 0]}
    seen = agree = exact_images = exact_values = values = 0
    for xb, yb in batches(ds, 32, shuffle=False):
        for x, label in zip(xb.numpy(), np.asarray(yb)):
            x8, out = runtime.quantized_io(x[None])
            theirs = out.reshape(-1).astype(np.int32)
            ours = reference.run(q, x8)[q.outputs[0]].reshape(-1).astype(np.int32)
            for key, s in (("edgemb", ours), (runtime.name, theirs)):
                top = np.argsort(-s, kind="stable")[:5]
                hits[key][0] += int(top[0] == label)
                hits[key][1] += int(label in top)
            agree += int(ours.argmax() == theirs.argmax())
            exact_images += int(np.array_equal(ours, theirs))
            exact_values += int((ours == theirs).sum())
            values += ours.size
            seen += 1
        if progress:
            progress(seen)
    n = max(seen, 1)
    return {"images": seen, "runtime": runtime.name,
            **{k: {"top1": v[0] / n, "top5": v[1] / n} for k, v in hits.items()},
            "agreement": agree / n, "exact_images": exact_images / n,
            "exact_values": exact_values / max(values, 1)}
