"""`edgemb quantize`: float model -> integer-only int8 `.qgraph` (PTQ, optionally QAT)."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import load_int8_file
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.calibrate import Ranges
from edgemobilenet.quant.convert import convert
from edgemobilenet.quant.floatgraph import FloatGraph
from edgemobilenet.quant.observers import METHODS
from edgemobilenet.quant.qat import train_qat
from edgemobilenet.quant.qat_data import qat_batches
from edgemobilenet.quant.sources import FloatModel, load_float_model, post_training_quantize
from edgemobilenet.quant.sqnr import layer_report


def model_options(f):
    """The options every command that loads a float MODEL shares."""
    for opt in reversed([
        click.option("--arch", help="architecture of a plain state dict"),
        click.option("--width", type=float, help="width multiplier [1.0]"),
        click.option("--resolution", type=int, help="input side [224 or the checkpoint's]"),
        click.option("--num-classes", type=int, help="[1000 or the checkpoint's]"),
        click.option("--in-channels", type=int, help="[3 or the checkpoint's]"),
    ]):
        f = opt(f)
    return f


def ptq_options(f, limit_flag: str = "--limit"):
    """Calibration options; `limit_flag` names the calibration image count option."""
    for opt in reversed([
        click.option("--calib", help="calibration data: fashion-mnist, an ImageFolder directory, "
                     "a CSV, or `photos` (crops of the bundled sample photos)"),
        click.option("--method", type=click.Choice(METHODS), default="percentile",
                     show_default=True, help="activation range observer (percentile: 99.99 % "
                     "quantiles, best measured on ImageNet MobileNetV2)"),
        click.option("--per-tensor", is_flag=True, help="one weight scale per layer instead of "
                     "per output channel (for comparison; hurts MobileNets)"),
        click.option(limit_flag, "limit", type=int, default=256, show_default=True,
                     help="number of calibration images"),
    ]):
        f = opt(f)
    return f


@contextmanager
def progress_bar(console: Console, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                  transient=True) as p:
        yield p


def quantize_float(fm: FloatModel, calib: str | None, method: str, per_tensor: bool,
                   limit: int, console: Console, show_progress: bool
                   ) -> tuple[qgraph.QGraph, torch.Tensor, str, Ranges]:
    """Calibrate and convert with a progress bar: (qgraph, calibration images, where, ranges)."""
    if limit < 1:
        raise EdgembError(f"--limit must be >= 1, got {limit}")
    if calib is None:
        console.print("[yellow]warning:[/] no --calib data: calibrating on random inputs, the "
                      "int8 model's accuracy is meaningless", highlight=False)
    with progress_bar(console, show_progress) as p:
        task = p.add_task("calibrating", total=limit, info="") if p else None
        q, x, where, ranges = post_training_quantize(
            fm, calib, method, per_tensor, limit,
            progress=(lambda n: p.update(task, completed=n)) if p else None)
    return q, x, where, ranges


@click.command("quantize")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help=".qgraph file to write")
@ptq_options
@click.option("--qat", is_flag=True, help="then quantization-aware training on --data")
@click.option("--epochs", type=int, default=1, show_default=True, help="QAT epochs")
@click.option("--data", help="labelled training data for QAT (fashion-mnist, directory, CSV)")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="QAT learning rate")
@click.option("--batch-size", type=int, default=64, show_default=True, help="QAT batch size")
@click.option("--train-limit", type=int, help="QAT: use only this many training images")
@click.option("--sqnr-images", type=int, default=4, show_default=True,
              help="calibration images used for the per-layer SQNR column (0: skip)")
@model_options
@click.option("--json", "as_json", is_flag=True, help="print JSON only")
def command(model, output, calib, method, per_tensor, limit, qat, epochs, data, lr, batch_size,
            train_limit, sqnr_images, arch, width, resolution, num_classes, in_channels,
            as_json) -> None:
    """Quantize MODEL (zoo name, `default`, checkpoint, state dict with --arch, or .onnx) to an
    integer-only int8 QGraph, print a per-layer table and write OUTPUT. An int8 .onnx
    (onnxruntime QDQ or QOperator) is imported with its own scales, not re-calibrated."""
    console = Console(stderr=as_json)
    if qat and not data:
        raise EdgembError("--qat needs --data (labelled training images)")
    if qat and calib is None:
        calib = data  # QAT starts from ranges calibrated on its own training data
    if not Path(output).resolve().parent.is_dir():
        raise EdgembError(f"{output}: the output directory does not exist")
    t0 = time.monotonic()
    imported = load_int8_file(model)
    if imported is not None:
        if qat:
            raise EdgembError(f"{model}: --qat needs a float model; this file is already int8")
        _write_imported(imported, model, output, console, as_json)
        return
    fm = load_float_model(model, arch=arch, width=width, resolution=resolution,
                          num_classes=num_classes, in_channels=in_channels,
                          data_hint=calib or data)
    q, x, where, ranges = quantize_float(fm, calib, method, per_tensor, limit, console,
                                         not as_json)
    g = fm.graph
    if qat:
        g, ranges = _run_qat(fm, ranges, data, epochs, lr, batch_size, train_limit, per_tensor,
                             console, as_json)
        q = convert(g, ranges, per_tensor, {**q.meta, "method": f"qat ({method} init)",
                                            "qat_epochs": epochs, "qat_data": data})
    qgraph.save(q, output)
    rows = layer_report(g, q, x[:sqnr_images])
    if as_json:
        click.echo(json.dumps({"output": output, "model": fm.source, "method": q.meta["method"],
                               "calibration": where, "layers": rows}))
        return
    table = Table(title=f"{fm.source} -> {output} ({q.meta['method']}, {where})")
    for col, just in (("layer", "left"), ("op", "left"), ("scale", "right"),
                      ("zero point", "right"), ("SQNR dB", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        table.add_row(r["layer"], r["op"], f"{r['scale']:.5g}", str(r["zero_point"]),
                      "-" if r["sqnr_db"] is None else f"{r['sqnr_db']:.1f}")
    console.print(table)
    console.print(f"wrote {output}: {len(q.nodes)} ops, "
                  f"{sum(n.params['weight'].size for n in q.nodes if 'weight' in n.params)} "
                  f"int8 weights, {time.monotonic() - t0:.0f} s")


def _write_imported(q: qgraph.QGraph, model: str, output: str, console: Console,
                    as_json: bool) -> None:
    """Save an int8 file imported with its own scales; list its layers' quantization."""
    qgraph.save(q, output)
    rows = [{"layer": n.name, "op": n.op, "scale": q.tensors[n.outputs[0]].scale,
             "zero_point": q.tensors[n.outputs[0]].zero_point} for n in q.nodes]
    if as_json:
        click.echo(json.dumps({"output": output, "model": model, "method": q.meta["method"],
                               "calibration": None, "layers": rows}))
        return
    table = Table(title=f"{model} -> {output} (imported int8: the file's own scales, "
                        f"not re-calibrated)")
    for col, just in (("layer", "left"), ("op", "left"), ("scale", "right"),
                      ("zero point", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in rows:
        table.add_row(r["layer"], r["op"], f"{r['scale']:.5g}", str(r["zero_point"]))
    console.print(table)
    console.print(f"wrote {output}: {len(q.nodes)} ops, "
                  f"{sum(n.params['weight'].size for n in q.nodes if 'weight' in n.params)} "
                  f"int8 weights")


def _run_qat(fm: FloatModel, ranges: Ranges, data: str, epochs: int, lr: float,
             batch_size: int, train_limit: int | None, per_tensor: bool, console: Console,
             as_json: bool) -> tuple[FloatGraph, Ranges]:
    if epochs < 1:
        raise EdgembError(f"--epochs must be >= 1, got {epochs}")
    epoch_batches, steps = qat_batches(data, fm, batch_size, train_limit)
    with progress_bar(console, not as_json) as p:
        task = p.add_task("QAT", total=epochs * steps, info="") if p else None

        def report(epoch: int, step: int, total: int, loss: float) -> None:
            if p:
                p.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {loss:.3f}")

        return train_qat(fm.graph, ranges, epoch_batches, epochs, steps, lr, report, per_tensor)
