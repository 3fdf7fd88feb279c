"""Float training of a zoo architecture on a dataset, writing an edgemb checkpoint per epoch.

Fixed seed, SGD with Nesterov momentum, linear warm-up then cosine decay per step, label
smoothing, random shift + horizontal flip augmentation on the batch tensors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from edgemobilenet.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from edgemobilenet.data import default_preprocess, open_dataset
from edgemobilenet.data.tensors import ImageTensors, limit_dataset
from edgemobilenet.errors import EdgembError
from edgemobilenet.models import build
from edgemobilenet.models.zoo import ARCHS, check_options, task_of


@dataclass
class TrainConfig:
    """What `edgemb train` was asked to do; None means "the dataset's default"."""

    arch: str
    data: str
    width: float = 1.0
    width_rule: str = "paper"
    resolution: int | None = None
    in_channels: int | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 4e-5
    limit: int | None = None
    seed: int = 0
    half: bool = False
    class_loss: str = "hnm"          # detection only: hnm (hard-negative mining) or focal


class Progress(Protocol):
    """What the trainer reports; the CLI draws it with rich."""

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, loss: float) -> None: ...
    def end_epoch(self, epoch: int, train_loss: float, val_top1: float) -> None: ...


def batches(ds: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None = None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches; in-memory tensors are sliced directly, files go through a DataLoader."""
    if isinstance(ds, ImageTensors):
        order = (torch.randperm(len(ds), generator=generator) if shuffle
                 else torch.arange(len(ds)))
        for i in range(0, len(ds), batch_size):
            idx = order[i:i + batch_size]
            yield ds.images[idx], ds.labels[idx]
        return
    yield from DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per image: random whole-pixel shift by up to 1/8 of the side (edges replicated) and a
    random horizontal flip."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    shift = torch.randint(-pad, pad + 1, (n, 2), generator=g).float()
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = flip, 1.0
    theta[:, 0, 2], theta[:, 1, 2] = 2 * shift[:, 0] / w, 2 * shift[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


@torch.no_grad()
def evaluate(model: nn.Module, ds: Dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = total = 0
    for x, y in batches(ds, batch_size, shuffle=False):
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, ds: Dataset, batch_size: int = 128,
                          max_batches: int = 32) -> None:
    """Set BN running statistics to their average over training batches ("precise BN").

    Exponential averages lag the weights; with a small momentum (torchvision's MnasNet uses
    0.0003) they stay near their initial values for a whole short run and eval mode then
    predicts one class. Forward passes only, in a fixed order: deterministic.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None            # cumulative average
    model.train()
    for i, (x, _) in enumerate(batches(ds, batch_size, shuffle=False)):
        if i == max_batches:
            break
        model(x.contiguous(memory_format=torch.channels_last))
    for m, mom in zip(bns, saved):
        m.momentum = mom


def lr_at(step: int, total: int, base: float) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return base * (step + 1) / warm
    return 0.5 * base * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def optimizer_and_start(model: nn.Module, cfg: TrainConfig, options: dict,
                        ckpt: dict | None, resume: str | Path | None
                        ) -> tuple[torch.optim.Optimizer, int]:
    """SGD with Nesterov momentum (no weight decay on biases and BN), and the first epoch:
    1, or the one after `ckpt`'s (whose options must equal `options`; state restored)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=cfg.lr, momentum=0.9, nesterov=True)
    if ckpt is None:
        return opt, 1
    if ckpt["options"] != {**options, "width": float(cfg.width)}:
        raise EdgembError(f"{resume}: checkpoint has options {ckpt['options']}, "
                          f"cannot resume with {options}")
    model.load_state_dict(ckpt["state_dict"])
    if "optimizer" in ckpt:
        opt.load_state_dict(ckpt["optimizer"])
    return opt, ckpt["epoch"] + 1


def train(cfg: TrainConfig, out: str | Path, resume: str | Path | None = None,
          progress: Progress | None = None, stop_after: int | None = None) -> dict:
    """Train and write `out` after every epoch; returns the last checkpoint's summary.

    Each epoch's shuffling and augmentation are seeded from (seed, epoch), so a run resumed
    from an epoch's checkpoint continues exactly as the uninterrupted run. `stop_after`
    ends early after that epoch (as an interruption would)."""
    if cfg.epochs < 1 or cfg.batch_size < 1 or not cfg.lr > 0:
        raise EdgembError("train: --epochs and --batch-size must be >= 1 and --lr > 0")
    if cfg.arch in ARCHS and task_of(cfg.arch) != "classification":
        raise EdgembError(f"train: {cfg.arch} is a {task_of(cfg.arch)} model: "
                          f"edgemobilenet.train_dense trains it")
    torch.manual_seed(cfg.seed)
    ckpt = load_checkpoint(resume) if resume is not None else None
    if ckpt is not None and ckpt["arch"] != cfg.arch:
        raise EdgembError(f"{resume}: checkpoint is {ckpt['arch']}, cannot resume {cfg.arch}")
    is_fm = cfg.data == "fashion-mnist"
    resolution = cfg.resolution or (32 if is_fm else 224)
    in_channels = cfg.in_channels or (1 if is_fm else 3)
    check_options(cfg.arch, cfg.width, resolution, 1, in_channels)
    preprocess = default_preprocess(cfg.data, resolution)
    train_ds = open_dataset(cfg.data, train=True, preprocess=preprocess, in_channels=in_channels)
    val_ds = open_dataset(cfg.data, train=False, preprocess=preprocess, in_channels=in_channels)
    num_classes = len(train_ds.classes)
    train_ds = limit_dataset(train_ds, cfg.limit, cfg.seed)
    val_ds = limit_dataset(val_ds, cfg.limit, cfg.seed)
    options = {"width": cfg.width, "resolution": resolution, "num_classes": num_classes,
               "in_channels": in_channels, "width_rule": cfg.width_rule}
    model = build(cfg.arch, **options).to(memory_format=torch.channels_last)
    opt, start = optimizer_and_start(model, cfg, options, ckpt, resume)
    steps = math.ceil(len(train_ds) / cfg.batch_size)
    summary: dict = {}
    for epoch in range(start, min(cfg.epochs, stop_after or cfg.epochs) + 1):
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout
        if progress:
            progress.start_epoch(epoch, cfg.epochs, steps)
        model.train()
        loss_sum = 0.0
        for i, (x, y) in enumerate(batches(train_ds, cfg.batch_size, True, g)):
            for group in opt.param_groups:
                group["lr"] = lr_at((epoch - 1) * steps + i, cfg.epochs * steps, cfg.lr)
            x = _augment(x, g).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_value = loss.item()
            loss_sum += loss_value
            if progress:
                progress.step(loss_value)
        recalibrate_batchnorm(model, train_ds)
        val_top1 = evaluate(model, val_ds)
        train_loss = loss_sum / steps
        if progress:
            progress.end_epoch(epoch, train_loss, val_top1)
        ckpt = make_checkpoint(cfg.arch, options, preprocess, model.state_dict(), epoch=epoch,
                               val_top1=val_top1, dataset=cfg.data,
                               optimizer=opt.state_dict())
        save_checkpoint(ckpt, out, half=cfg.half)
        summary = {"epoch": epoch, "train_loss": train_loss, "val_top1": val_top1,
                   "val_images": len(val_ds), "train_images": len(train_ds)}
    if not summary:
        raise EdgembError(f"{resume}: already trained for {start - 1} epochs "
                          f"(ask for more than {cfg.epochs} with --epochs)")
    return summary
