"""Detection mAP and segmentation mIoU of a float model and of its int8 QGraph (reference
executor: the raw int8 head outputs, dequantized, then the same host post-processing)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from edgemobilenet.data import DenseSet
from edgemobilenet.detection.anchors import anchors as make_anchors
from edgemobilenet.detection.metrics import coco_map
from edgemobilenet.detection.postprocess import detect
from edgemobilenet.detection.postspec import from_meta
from edgemobilenet.quant import reference
from edgemobilenet.quant.convert import dequantize_output, quantize_input
from edgemobilenet.quant.qgraph import QGraph

IGNORE = 255


def int8_outputs(q: QGraph, x: torch.Tensor) -> np.ndarray:
    """Dequantized QGraph outputs for images x (N, C, H, W), in the float model's layout
    ((N, K, H, W) for a segmentation map; the flat detection vector as is)."""
    xq = quantize_input(q, x)
    out = []
    for i in range(len(xq)):
        y = dequantize_output(q, reference.run(q, xq[i:i + 1])[q.outputs[0]])
        out.append(y.transpose(0, 3, 1, 2)[0] if y.ndim == 4 else y[0])
    return np.stack(out)


def _batches(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


def _outputs(model: nn.Module | None, q: QGraph | None, x: torch.Tensor) -> dict[str, np.ndarray]:
    out = {}
    if model is not None:
        with torch.no_grad():
            out["float"] = model.eval()(x).numpy()
    if q is not None:
        out["int8"] = int8_outputs(q, x)
    return out


def evaluate_detection(ds: DenseSet, model: nn.Module | None, q: QGraph | None = None,
                       float_model: bool = True, batch_size: int = 32,
                       progress: Callable[[int], None] | None = None) -> dict:
    """{"images", "float": {"map", "map50"}, "int8": {...}}; `model` (an SSDLite) gives the
    anchors and class count, else the QGraph's carried spec (detection.postspec: then only
    the QGraph is evaluated); `float_model=False` evaluates only the QGraph."""
    size = ds.images.shape[-1]
    if model is not None:
        anc, k = make_anchors(model.anchor_style, ds.images.shape[-2], size), model.num_classes
    else:
        spec = from_meta(q)
        anc, k = spec.anchors, spec.num_classes
    a = len(anc)
    dets: dict[str, list] = {}
    for sl in _batches(len(ds), batch_size):
        outs = _outputs(model if float_model else None, q, ds.images[sl])
        for key, raw in outs.items():
            codes, logits = raw[:, :4 * a].reshape(-1, a, 4), raw[:, 4 * a:].reshape(-1, a, k)
            dets.setdefault(key, []).extend(detect(c, lg, anc) for c, lg in zip(codes, logits))
        if progress:
            progress(sl.stop)
    gt_b = [b.numpy() for b in ds.boxes]
    gt_l = [lab.numpy() for lab in ds.labels]
    res: dict = {"images": len(ds)}
    for key, d in dets.items():
        res[key] = coco_map(gt_b, gt_l, d, k, size)
    return res


def confusion(pred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """(K, K) pixel counts [target, predicted], ignoring target 255."""
    valid = target != IGNORE
    return np.bincount(target[valid] * k + pred[valid], minlength=k * k).reshape(k, k)


def miou(conf: np.ndarray) -> dict[str, float]:
    """mIoU over classes present in target or prediction, and pixel accuracy."""
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - inter
    present = union > 0
    return {"miou": float((inter[present] / union[present]).mean()),
            "pixel_acc": float(inter.sum() / max(conf.sum(), 1))}


def evaluate_segmentation(ds: DenseSet, model: nn.Module | None, q: QGraph | None,
                          num_classes: int, batch_size: int = 32,
                          progress: Callable[[int], None] | None = None) -> dict:
    """{"images", "float": {"miou", "pixel_acc"}, "int8": {...}}."""
    confs: dict[str, np.ndarray] = {}
    for sl in _batches(len(ds), batch_size):
        target = ds.masks[sl].numpy()
        for key, logits in _outputs(model, q, ds.images[sl]).items():
            c = confusion(logits.argmax(1), target, num_classes)
            confs[key] = confs.get(key, 0) + c
        if progress:
            progress(sl.stop)
    return {"images": len(ds), **{k: miou(c) for k, c in confs.items()}}
