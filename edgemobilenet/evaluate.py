"""Top-1 / top-5 accuracy of a float graph and of its int8 QGraph (reference executor)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from edgemobilenet.quant import reference
from edgemobilenet.quant.convert import dequantize_output, quantize_input
from edgemobilenet.quant.floatgraph import FloatGraph, run
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.train import batches


def int8_logits(q: QGraph, x: torch.Tensor) -> np.ndarray:
    """Run the QGraph on each image of x (N, C, H, W float); dequantized outputs (N, K)."""
    xq = quantize_input(q, x)
    out = [dequantize_output(q, reference.run(q, xq[i:i + 1])[q.outputs[0]]).reshape(-1)
           for i in range(len(xq))]
    return np.stack(out)


def _topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> int:
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return int((top == labels[:, None]).any(axis=1).sum())


def evaluate(ds: Dataset, graph: FloatGraph | None = None, q: QGraph | None = None,
             batch_size: int = 64, progress: Callable[[int], None] | None = None) -> dict:
    """{"images", "float": {"top1", "top5"}, "int8": {...}, "agreement"} as fractions.

    `agreement` is the share of images where float and int8 top-1 classes are equal.
    """
    hits = {"float": [0, 0], "int8": [0, 0]}
    agree = seen = 0
    for x, y in batches(ds, batch_size, shuffle=False):
        labels = np.asarray(y)
        preds = {}
        if graph is not None:
            with torch.no_grad():
                preds["float"] = run(graph, x.float())[graph.output].numpy()
        if q is not None:
            preds["int8"] = int8_logits(q, x)
        for key, scores in preds.items():
            hits[key][0] += _topk_hits(scores, labels, 1)
            hits[key][1] += _topk_hits(scores, labels, 5)
        if len(preds) == 2:
            agree += int((preds["float"].argmax(1) == preds["int8"].argmax(1)).sum())
        seen += len(labels)
        if progress:
            progress(seen)
    out: dict = {"images": seen}
    for key, present in (("float", graph is not None), ("int8", q is not None)):
        if present:
            out[key] = {"top1": hits[key][0] / max(seen, 1), "top5": hits[key][1] / max(seen, 1)}
    if graph is not None and q is not None:
        out["agreement"] = agree / max(seen, 1)
    return out
