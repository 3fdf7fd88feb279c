"""`edgemb eval`: accuracy of a float model and/or its int8 QGraph on a labelled dataset."""
from __future__ import annotations

import functools
import json

import click
from rich.console import Console
from rich.table import Table

from edgemobilenet.cli.quantize_cmd import model_options, progress_bar, ptq_options, quantize_float
from edgemobilenet.data import default_preprocess, open_dataset, open_dense_dataset
from edgemobilenet.errors import EdgembError
from edgemobilenet.data.tensors import limit_dataset
from edgemobilenet.detection.postspec import from_meta
from edgemobilenet.evaluate import evaluate
from edgemobilenet.evaluate_dense import evaluate_detection, evaluate_segmentation
from edgemobilenet.models.zoo import ARCHS, task_of
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.onnx_qdq_import import is_int8_onnx
from edgemobilenet.quant.sources import load_float_model


def _qgraph_preprocess(q: qgraph.QGraph, data: str) -> tuple[dict, int]:
    shape = q.tensors[q.inputs[0]].shape
    if len(shape) != 4:
        raise EdgembError(f"the QGraph input is {shape}, not an image (1, H, W, C)")
    pre = q.meta.get("preprocess") or default_preprocess(data, shape[1])
    return dict(pre), shape[3]


@click.command("eval")
@click.argument("model")
@click.option("--data", required=True, help="labelled test data: fashion-mnist (its test "
              "split), an ImageFolder directory (val/ or test/ if present) or a CSV")
@click.option("--int8", "int8", is_flag=True, help="also quantize MODEL and evaluate the int8 "
              "QGraph with the reference executor")
@click.option("--qgraph", "qgraph_file", type=click.Path(dir_okay=False),
              help="evaluate this .qgraph as MODEL's int8 version (implies --int8)")
@click.option("--limit", "eval_limit", type=int, help="evaluate on this many random images")
@functools.partial(ptq_options, limit_flag="--calib-limit")
@model_options
@click.option("--litert-kernels", type=click.Choice(["builtin", "ref", "xnnpack"]),
              default="builtin", show_default=True, help="a .tflite MODEL: LiteRT's kernels to "
              "compare with (builtin: optimized, no XNNPACK; ref: reference; xnnpack: default)")
@click.option("--json", "as_json", is_flag=True, help="print JSON only")
def command(model, data, int8, qgraph_file, eval_limit, calib, method, per_tensor, limit, arch,
            width, resolution, num_classes, in_channels, litert_kernels, as_json) -> None:
    """Top-1/top-5 of MODEL (float), of its int8 QGraph with --int8, and their agreement.
    A .qgraph MODEL is evaluated in int8 only; an int8 .onnx or .tflite is imported with its
    own scales and compared with its runtime (onnxruntime, LiteRT) running the file
    (agreement and exact-output fraction)."""
    console = Console(stderr=as_json)
    if model.lower().endswith(".tflite"):
        _eval_tflite(model, data, eval_limit, litert_kernels, console, as_json)
        return
    if model.lower().endswith(".onnx") and is_int8_onnx(model):
        _eval_int8_onnx(model, data, eval_limit, console, as_json)
        return
    graph = q = None
    if model.endswith(".qgraph"):
        q = qgraph.load(model)
        if (spec := from_meta(q, model)) is not None:      # a detector / segmenter
            _eval_dense_qgraph(model, q, spec, data, eval_limit, console, as_json)
            return
        preprocess, channels = _qgraph_preprocess(q, data)
        title = f"{model} (int8)"
    else:
        fm = load_float_model(model, arch=arch, width=width, resolution=resolution,
                              num_classes=num_classes, in_channels=in_channels, data_hint=data)
        task = task_of(fm.arch) if fm.arch in ARCHS else "classification"
        if task != "classification":
            if qgraph_file:
                raise EdgembError(f"{qgraph_file}: --qgraph is for classifiers; {fm.arch} is "
                                  f"quantized from MODEL with --int8")
            _eval_dense(fm, task, data, int8, calib, method, per_tensor, limit, eval_limit,
                        console, as_json)
            return
        graph, preprocess, channels = fm.graph, fm.preprocess, fm.graph.input_shape[0]
        title = fm.source
        if qgraph_file:
            q = qgraph.load(qgraph_file)
        elif int8:
            q, _, where, _ = quantize_float(fm, calib or data, method, per_tensor, limit, console,
                                            not as_json)
            title += f" (int8: {method}, {where})"
    ds = limit_dataset(open_dataset(data, train=False, preprocess=preprocess,
                                    in_channels=channels), eval_limit)
    with progress_bar(console, not as_json) as p:
        task = p.add_task("evaluating", total=len(ds), info="") if p else None
        res = evaluate(ds, graph, q, progress=(lambda n: p.update(task, completed=n)) if p
                       else None)
    if as_json:
        click.echo(json.dumps(res))
        return
    console.print(f"{title} on {res['images']} images of {data}", highlight=False)
    console.print(_accuracy_table(res, (("float", "float"), ("int8", "int8"))))
    if "agreement" in res:
        console.print(f"float/int8 top-1 agreement: {100 * res['agreement']:.2f}%")


def _eval_int8_onnx(model: str, data: str, eval_limit: int | None, console: Console,
                    as_json: bool) -> None:
    from edgemobilenet.quant.onnx_peer import OnnxPeer
    from edgemobilenet.quant.onnx_qdq_import import import_onnx_int8

    q, g, info = import_onnx_int8(model)
    _compare_with_runtime(model, data, eval_limit, q, OnnxPeer(model, q, g, info),
                          "onnxruntime (CPU, the file as written)", console, as_json)


def _eval_tflite(model: str, data: str, eval_limit: int | None, kernels: str, console: Console,
                 as_json: bool) -> None:
    from edgemobilenet.quant.tflite_compare import LitertPeer

    peer = LitertPeer(model, kernels)
    _compare_with_runtime(model, data, eval_limit, peer.q, peer,
                          f"LiteRT ({kernels} kernels, the file as written)", console, as_json)


def _compare_with_runtime(model: str, data: str, eval_limit: int | None, q: qgraph.QGraph,
                          peer, label: str, console: Console, as_json: bool) -> None:
    """Our reference executor on the imported `q` against `peer` (the file's own runtime,
    called `label`), image by image (`runtime_compare.compare`), as a table or JSON."""
    from edgemobilenet.quant.runtime_compare import compare

    preprocess, channels = _qgraph_preprocess(q, data)
    ds = limit_dataset(open_dataset(data, train=False, preprocess=preprocess,
                                    in_channels=channels), eval_limit)
    with progress_bar(console, not as_json) as p:
        task = p.add_task("evaluating", total=len(ds), info="") if p else None
        res = compare(q, peer, ds,
                      progress=(lambda n: p.update(task, completed=n)) if p else None)
    if as_json:
        click.echo(json.dumps(res))
        return
    console.print(f"{model} on {res['images']} images of {data}", highlight=False)
    console.print(_accuracy_table(res, (("edgemb", "edgemb int8 (reference executor)"),
                                        (res["runtime"], label))))
    console.print(f"top-1 agreement {100 * res['agreement']:.2f}%; identical outputs on "
                  f"{100 * res['exact_images']:.2f}% of images "
                  f"({100 * res['exact_values']:.3f}% of output values)", highlight=False)


def _accuracy_table(res: dict, rows) -> Table:
    """Top-1 and top-5 in % of each (key in `res`, name) of `rows` that `res` has."""
    table = Table()
    for col in ("model", "top-1 %", "top-5 %"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for key, name in rows:
        if key in res:
            table.add_row(name, f"{100 * res[key]['top1']:.2f}", f"{100 * res[key]['top5']:.2f}")
    return table


def _eval_dense_qgraph(model: str, q: qgraph.QGraph, spec, data: str, eval_limit: int | None,
                       console: Console, as_json: bool) -> None:
    """mAP or mIoU of a detection/segmentation QGraph (int8 reference) from what it carries."""
    task = "detection" if spec.kind == "detect" else "segmentation"
    _, h, _, c = q.tensor(q.inputs[0]).shape
    ds = open_dense_dataset(data, task, train=False, count=eval_limit, resolution=h,
                            in_channels=c)
    with progress_bar(console, not as_json) as p:
        t = p.add_task("evaluating", total=len(ds), info="") if p else None
        step = (lambda n: p.update(t, completed=n)) if p else None
        res = (evaluate_detection(ds, None, q, float_model=False, progress=step)
               if task == "detection" else
               evaluate_segmentation(ds, None, q, spec.num_classes, progress=step))
    _print_dense(f"{model} (int8)", task, data, res, console, as_json)


def _print_dense(title: str, task: str, data: str, res: dict, console: Console,
                 as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(res))
        return
    cols = (("mAP@0.5 %", "map50"), ("mAP@[.5:.95] %", "map")) if task == "detection" else \
        (("mIoU %", "miou"), ("pixel acc. %", "pixel_acc"))
    console.print(f"{title} on {res['images']} images of {data}", highlight=False)
    table = Table()
    table.add_column("model")
    for name, _ in cols:
        table.add_column(name, justify="right")
    for key in ("float", "int8"):
        if key in res:
            table.add_row(key, *(f"{100 * res[key][k]:.2f}" for _, k in cols))
    console.print(table)


def _eval_dense(fm, task: str, data: str, int8: bool, calib: str | None, method: str,
                per_tensor: bool, calib_limit: int, eval_limit: int | None, console: Console,
                as_json: bool) -> None:
    """mAP or mIoU of a detection/segmentation model, float and (--int8) int8 reference."""
    o = fm.options
    kw = dict(resolution=o["resolution"], in_channels=o["in_channels"])
    ds = open_dense_dataset(data, task, train=False, count=eval_limit, **kw)
    q = None
    if int8:
        q = quantize_float(fm, calib or data, method, per_tensor, calib_limit, console,
                           not as_json)[0]
    with progress_bar(console, not as_json) as p:
        t = p.add_task("evaluating", total=len(ds), info="") if p else None
        step = (lambda n: p.update(t, completed=n)) if p else None
        res = (evaluate_detection(ds, fm.module, q, progress=step) if task == "detection" else
               evaluate_segmentation(ds, fm.module, q, o["num_classes"], progress=step))
    _print_dense(fm.source, task, data, res, console, as_json)
