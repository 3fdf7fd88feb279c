"""`edgemb train`: float training with a progress bar and per-epoch validation accuracy."""
from __future__ import annotations

import time

import click
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgemobilenet.train import TrainConfig, train


class _RichProgress:
    def __init__(self, progress: Progress, console: Console):
        self.p, self.console, self.task = progress, console, None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.task = self.p.add_task(f"epoch {epoch}/{epochs}", total=steps, loss=float("nan"))

    def step(self, loss: float) -> None:
        self.p.update(self.task, advance=1, loss=loss)

    def end_epoch(self, epoch: int, train_loss: float, val_top1: float) -> None:
        self.p.remove_task(self.task)
        self.console.print(f"epoch {epoch}: train loss {train_loss:.4f}, "
                           f"val top-1 {val_top1:.2f}%")


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
@click.option("--half", is_flag=True, help="store float16 weights, no optimizer state "
              "(small file for shipping; cannot be resumed)")
def command(arch, data, output, width, width_rule, resolution, in_channels, epochs, batch_size, lr,
            weight_decay, limit, resume, seed, threads, half) -> None:
    """Train ARCH (mobilenet_v1, mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small,
    mnasnet_a1, mnasnet_b1) on DATA and write an edgemb checkpoint to OUTPUT."""
    torch.set_num_threads(threads)
    cfg = TrainConfig(arch=arch, data=data, width=width, width_rule=width_rule, resolution=resolution,
                      in_channels=in_channels, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, limit=limit, seed=seed, half=half)
    console = Console()
    t0 = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
                  console=console, transient=True) as p:
        summary = train(cfg, output, resume=resume, progress=_RichProgress(p, console))
    console.print(f"wrote {output}: epoch {summary['epoch']}, val top-1 "
                  f"{summary['val_top1']:.2f}% on {summary['val_images']} images, "
                  f"{time.monotonic() - t0:.0f} s")
