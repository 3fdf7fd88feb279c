"""`edgemb train`: float training with a progress bar and per-epoch validation accuracy."""
from __future__ import annotations

import time

import click
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgemobilenet.models.zoo import task_of
from edgemobilenet.train import TrainConfig, train
from edgemobilenet.train_dense import train_dense

_METRIC = {"classification": "top-1", "detection": "mAP@0.5", "segmentation": "mIoU"}


class _RichProgress:
    def __init__(self, progress: Progress, console: Console, metric: str):
        self.p, self.console, self.task, self.metric = progress, console, None, metric

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.task = self.p.add_task(f"epoch {epoch}/{epochs}", total=steps, loss=float("nan"))

    def step(self, loss: float) -> None:
        self.p.update(self.task, advance=1, loss=loss)

    def end_epoch(self, epoch: int, train_loss: float, val_top1: float) -> None:
        self.p.remove_task(self.task)
        self.console.print(f"epoch {epoch}: train loss {train_loss:.4f}, "
                           f"val {self.metric} {val_top1:.2f}%")


@click.command("train")
@click.argument("arch")
@click.option("--data", required=True,
              help="fashion-mnist, an ImageFolder directory, or a CSV of path,label rows")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="checkpoint to write (after every epoch)")
@click.option("--width", default=1.0, show_default=True, help="width multiplier alpha")
@click.option("--width-rule", type=click.Choice(["paper", "torchvision"]), default="paper",
              show_default=True, help="how MobileNetV3 widths round (equal at width 1.0)")
@click.option("--resolution", type=int, help="input side [32 for fashion-mnist, else 224]")
@click.option("--in-channels", type=int, help="[1 for fashion-mnist, else 3]")
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--lr", default=0.1, show_default=True, help="peak SGD learning rate")
@click.option("--weight-decay", default=4e-5, show_default=True)
@click.option("--limit", type=int, help="use only this many training and validation images")
@click.option("--resume", type=click.Path(dir_okay=False), help="checkpoint to continue from")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=2, show_default=True, help="torch CPU threads")
@click.option("--class-loss", type=click.Choice(["hnm", "focal"]), default="hnm",
              show_default=True, help="detection: cross-entropy with hard-negative mining "
              "(3:1) or focal loss")
@click.option("--half", is_flag=True, help="store float16 weights, no optimizer state "
              "(small file for shipping; cannot be resumed)")
def command(arch, data, output, width, width_rule, resolution, in_channels, epochs, batch_size, lr,
            weight_decay, limit, resume, seed, threads, class_loss, half) -> None:
    """Train ARCH on DATA and write an edgemb checkpoint to OUTPUT. The task follows from
    ARCH: classifiers (mobilenet_*, mnasnet_*), detectors (ssdlite_*: DATA fashion-mnist is
    the composited detection set, or a COCO-style JSON) and segmenters (lraspp_*,
    deeplabv3_*: fashion-mnist composited, or an images/ + masks/ tree)."""
    torch.set_num_threads(threads)
    cfg = TrainConfig(arch=arch, data=data, width=width, width_rule=width_rule,
                      resolution=resolution, in_channels=in_channels, epochs=epochs,
                      batch_size=batch_size, lr=lr, weight_decay=weight_decay, limit=limit,
                      seed=seed, half=half, class_loss=class_loss)
    console = Console()
    t0 = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
                  console=console, transient=True) as p:
        progress = _RichProgress(p, console, _METRIC[task_of(arch)])
        task = task_of(arch)
        summary = (train(cfg, output, resume=resume, progress=progress)
                   if task == "classification" else
                   train_dense(cfg, task, output, resume=resume, progress=progress))
    console.print(f"wrote {output}: epoch {summary['epoch']}, val "
                  f"{summary.get('metric', 'top-1')} {summary['val_top1']:.2f}% on "
                  f"{summary['val_images']} images, "
                  f"{time.monotonic() - t0:.0f} s")
