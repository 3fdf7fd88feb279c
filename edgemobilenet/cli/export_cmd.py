"""`edgemb export`: a QGraph (or any MODEL) -> int8 `.tflite` (LiteRT) or QDQ `.onnx`."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from edgemobilenet.cli.quantize_cmd import model_options, ptq_options
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph

FORMATS = (".tflite", ".onnx")


@click.command("export")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="file to write: .tflite (int8 LiteRT model) or .onnx (QDQ)")
@ptq_options
@model_options
@click.option("--json", "as_json", is_flag=True, help="print JSON only")
def command(model: str, output: Path, calib: str | None, method: str, per_tensor: bool,
            limit: int, arch: str | None, width: float | None, resolution: int | None,
            num_classes: int | None, in_channels: int | None, as_json: bool) -> None:
    """Export MODEL (a .qgraph, or anything `edgemb quantize` takes, quantized with the same
    options) as a fully-integer int8 .tflite that LiteRT runs, or as a QDQ .onnx."""
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise EdgembError(f"{output}: unknown export format '{suffix}' (use .tflite or .onnx)")
    if not output.resolve().parent.is_dir():
        raise EdgembError(f"{output}: the output directory does not exist")
    opts = ModelOptions(arch=arch, width=width, resolution=resolution, num_classes=num_classes,
                        in_channels=in_channels, method=method, calib=calib,
                        calib_count=limit, per_tensor_weights=per_tensor)
    if calib is None and not model.lower().endswith((".qgraph", ".tflite")) and not as_json:
        Console(stderr=True).print("[yellow]warning:[/] no --calib data: calibrating on random "
                                   "inputs, the int8 model's accuracy is meaningless",
                                   highlight=False)
    g = load_qgraph(model, opts)
    inexact: list[str] = []
    if suffix == ".tflite":
        from edgemobilenet.quant.tflite_export import export_tflite
        inexact = export_tflite(g, output).inexact
    else:
        from edgemobilenet.quant.onnx_export import export_qdq
        export_qdq(g, output)
    doc = {"output": str(output), "format": suffix[1:], "model_hash": g.digest(),
           "nodes": len(g.nodes), "bytes": output.stat().st_size, "inexact": inexact}
    if as_json:
        click.echo(json.dumps(doc))
        return
    con = Console()
    con.print(f"wrote {output}: {len(g.nodes)} QGraph nodes, {doc['bytes']:,} bytes "
              f"(model {doc['model_hash'][:12]})", highlight=False)
    if suffix == ".onnx":
        con.print("onnxruntime requantizes in float: outputs may differ by 1 LSB per node",
                  highlight=False)
    for line in inexact:
        con.print(f"[yellow]not bit-exact in LiteRT:[/] {line}", highlight=False)
