"""Float training of the detection (SSDLite) and segmentation (LR-ASPP, Mobile DeepLabv3)
models, writing an edgemb checkpoint per epoch; `train.train` hands these tasks here.

Same schedule as classification (SGD with Nesterov momentum, warm-up then cosine, seeded per
epoch so a resumed run continues exactly); augmentation is a random horizontal flip of the
image with its boxes or mask. Detection trains SSD's multibox loss (`--class-loss hnm` or
`focal`), segmentation per-pixel cross-entropy. The checkpoint's `val_top1` field holds the
validation mAP@0.5 (detection) or mIoU (segmentation), in percent.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from edgemobilenet.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from edgemobilenet.data import DenseSet, dense_preprocess, open_dense_dataset
from edgemobilenet.data.tensors import ImageTensors
from edgemobilenet.detection.anchors import anchors as make_anchors
from edgemobilenet.detection.loss import CLASS_LOSSES, multibox_loss
from edgemobilenet.errors import EdgembError
from edgemobilenet.evaluate_dense import IGNORE, evaluate_detection, evaluate_segmentation
from edgemobilenet.models import build
from edgemobilenet.models.zoo import arch_defaults, check_options
from edgemobilenet.train import TrainConfig, lr_at, optimizer_and_start, recalibrate_batchnorm


def _flip(ds: DenseSet, idx: torch.Tensor, flip: torch.Tensor, task: str):
    x = ds.images[idx].clone()
    x[flip] = x[flip].flip(-1)
    if task == "segmentation":
        m = ds.masks[idx].clone()
        m[flip] = m[flip].flip(-1)
        return x, m
    boxes = []
    for i, f in zip(idx.tolist(), flip.tolist()):
        b = ds.boxes[i]
        boxes.append(torch.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], 1) if f else b)
    return x, (boxes, [ds.labels[i] for i in idx.tolist()])


def validate(model: torch.nn.Module, ds: DenseSet, task: str) -> float:
    """mAP@0.5 (detection) or mIoU (segmentation) of the float model, in percent."""
    model.eval()
    if task == "detection":
        return 100.0 * evaluate_detection(ds, model)["float"]["map50"]
    return 100.0 * evaluate_segmentation(ds, model, None, model.num_classes)["float"]["miou"]


def train_dense(cfg: TrainConfig, task: str, out: str | Path, resume: str | Path | None = None,
                progress=None, stop_after: int | None = None) -> dict:
    """Train `cfg.arch` (a `train.TrainConfig`) on detection or segmentation data."""
    if cfg.class_loss not in CLASS_LOSSES:
        raise EdgembError(f"--class-loss {cfg.class_loss!r}: choose {' or '.join(CLASS_LOSSES)}")
    torch.manual_seed(cfg.seed)
    ckpt = load_checkpoint(resume) if resume is not None else None
    if ckpt is not None and ckpt["arch"] != cfg.arch:
        raise EdgembError(f"{resume}: checkpoint is {ckpt['arch']}, cannot resume {cfg.arch}")
    is_fm = cfg.data == "fashion-mnist"
    resolution = cfg.resolution or (96 if is_fm else arch_defaults(cfg.arch)["resolution"])
    in_channels = cfg.in_channels or (1 if is_fm else 3)
    check_options(cfg.arch, cfg.width, resolution, 2, in_channels)
    kw = dict(resolution=resolution, in_channels=in_channels)
    train_ds = open_dense_dataset(cfg.data, task, train=True, count=cfg.limit, **kw)
    val_ds = open_dense_dataset(cfg.data, task, train=False,
                                count=min(cfg.limit, 500) if cfg.limit else None, **kw)
    options = {"width": cfg.width, "resolution": resolution, "num_classes": len(train_ds.classes),
               "in_channels": in_channels, "width_rule": cfg.width_rule}
    model = build(cfg.arch, **options)
    opt, start = optimizer_and_start(model, cfg, options, ckpt, resume)
    anc = torch.from_numpy(make_anchors(model.anchor_style, resolution, resolution)) \
        if task == "detection" else None
    steps = math.ceil(len(train_ds) / cfg.batch_size)
    preprocess = dense_preprocess(cfg.data, resolution)
    summary: dict = {}
    for epoch in range(start, min(cfg.epochs, stop_after or cfg.epochs) + 1):
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        if progress:
            progress.start_epoch(epoch, cfg.epochs, steps)
        model.train()
        loss_sum = 0.0
        order = torch.randperm(len(train_ds), generator=g)
        for i in range(steps):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            flip = torch.rand(len(idx), generator=g) < 0.5
            for group in opt.param_groups:
                group["lr"] = lr_at((epoch - 1) * steps + i, cfg.epochs * steps, cfg.lr)
            x, target = _flip(train_ds, idx, flip, task)
            y = model(x)
            if task == "detection":
                codes, logits = model.split(y)
                loss = multibox_loss(codes, logits, anc, *target, class_loss=cfg.class_loss)
            else:
                loss = F.cross_entropy(y, target, ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            if progress:
                progress.step(loss.item())
        recalibrate_batchnorm(model, ImageTensors(train_ds.images, torch.zeros(len(train_ds)),
                                                  train_ds.classes))
        score = validate(model, val_ds, task)
        train_loss = loss_sum / steps
        if progress:
            progress.end_epoch(epoch, train_loss, score)
        save_checkpoint(make_checkpoint(cfg.arch, options, preprocess, model.state_dict(),
                                        epoch=epoch, val_top1=score, dataset=cfg.data,
                                        optimizer=opt.state_dict(),
                                        classes=train_ds.classes), out, half=cfg.half)
        summary = {"epoch": epoch, "train_loss": train_loss, "val_top1": score,
                   "val_images": len(val_ds), "train_images": len(train_ds),
                   "metric": "mAP@0.5" if task == "detection" else "mIoU"}
    if not summary:
        raise EdgembError(f"{resume}: already trained for {start - 1} epochs "
                          f"(ask for more than {cfg.epochs} with --epochs)")
    return summary
