"""`edgemb compile`: a model -> firmware build directory for a Cortex-M target."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from edgemobilenet.backends.mcu.inplace import MEMORY_MODES
from edgemobilenet.backends.mcu.layout import WEIGHT_LAYOUTS
from edgemobilenet.cli.board_options import board_connect, board_options
from edgemobilenet.detection.postspec import with_nms
from edgemobilenet.errors import EdgembError
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.cli.quantize_cmd import model_options, ptq_options
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.targets import load_target


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.1f} KB"


def _pct(n: int, of: int | None) -> str:
    return f"{100 * n / of:.1f}%" if of else "-"


def _print(doc: dict, out_dir: Path, show_layers: bool) -> None:
    con = Console()
    if show_layers:
        t = Table(title="layers", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        cols = ["#", "layer", "op", "output", "MACs", "offset", "bytes", "live"]
        tuned = [r["kernel"] for r in doc["layers"] if "kernel" in r]
        unit = "cycles" if tuned and tuned[0].get("unit") == "cycles" else "instr"
        for col in cols + (["kernel", f"hand {unit}", f"TVM {unit}"] if tuned else []):
            t.add_column(col, no_wrap=True, justify="left" if col in ("layer", "op", "output")
                         else "right")
        for r in doc["layers"]:
            k = r.get("kernel")
            extra = ([("tvm" if k["kernel"] != "hand" else "hand") if k else "",
                      f"{k['hand_instructions']:,}" if k else "",
                      f"{k['tvm_instructions']:,}" if k else ""] if tuned else [])
            t.add_row(str(r["index"]), r["name"], r["op"], "x".join(map(str, r["out_shape"])),
                      f"{r['macs']:,}", str(r["out_offset"]), f"{r['out_bytes']:,}",
                      f"{r['live_bytes']:,}", *extra)
        con.print(t)
    m = Table(title=f"{doc['target']} ({doc['kernels']} kernels): {len(doc['layers'])} layers, "
              f"{doc['macs'] / 1e6:,.2f} M MACs", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("memory", "bytes", "KB", "budget", "use"):
        m.add_column(col, justify="left" if col == "memory" else "right")
    m.add_row("flash (ELF)", f"{doc['flash_bytes']:,}", _kb(doc["flash_bytes"]),
              _kb(doc["flash_budget"]), _pct(doc["flash_bytes"], doc["flash_budget"]))
    m.add_row("SRAM (ELF + stack)", f"{doc['sram_bytes']:,}", _kb(doc["sram_bytes"]),
              _kb(doc["sram_budget"]), _pct(doc["sram_bytes"], doc["sram_budget"]))
    if doc["bulk_bytes"]:
        m.add_row("bulk region (ELF)", f"{doc['bulk_bytes']:,}", _kb(doc["bulk_bytes"]), "", "")
    m.add_row(f"arena (in {doc['placement']['arena']})", f"{doc['arena_bytes']:,}",
              _kb(doc["arena_bytes"]), "", "")
    m.add_row("arena lower bound", f"{doc['arena_lower_bound']:,}",
              _kb(doc["arena_lower_bound"]), "",
              _pct(doc["arena_bytes"], doc["arena_lower_bound"]))
    con.print(m)
    if doc["kernels"] == "dsp":
        pl = doc["placement"]
        n = len(pl["compact_layers"])
        con.print(f"pointwise weights: {pl['weight_layout']} (int16 layout"
                  f"{f', int8 on {n} layer(s) to fit flash or as asked' if n else ''}"
                  f"; --weights)", highlight=False)
    con.print(f"depthwise in place (--memory): {len(doc['in_place_layers'])} layer(s)",
              highlight=False)
    pt = doc["patch"]
    con.print("patches (--memory): " + (
        f"layers 0..{pt['join_index']} in a {pt['grid'][0]} x {pt['grid'][1]} grid, joined at "
        f"'{pt['join_layer']}', {'rows cached' if pt['cached_rows'] else 'halos recomputed'}"
        if pt else "none") + f"; arena {doc['arena_bytes']:,} B, "
        f"layer by layer {doc['arena_layer_by_layer']:,} B", highlight=False)
    con.print(f"peak activation memory at layer '{doc['peak_layer']}'; model "
              f"{doc['model_hash'][:12]}; wrote {out_dir}/ (firmware.elf, manifest.json)")


@click.command("compile")
@click.argument("model", required=False, default="default")
@click.option("--target", "-t", "target_name", required=True,
              help="Target name (targets/*.toml) or path to a target TOML file.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Build directory (default: build/<target>).")
@ptq_options
@model_options
@click.option("--layers", "show_layers", is_flag=True, help="Print the per-layer table.")
@click.option("-j", "--jobs", default=2, show_default=True, help="Parallel make jobs.")
@click.option("--tune-db", type=click.Path(path_type=Path, file_okay=False),
              help="MetaSchedule database of `edgemb tune`: Cortex-M, per layer the faster of "
                   "the hand-written and the tuned TVM kernel; Linux, the tuned schedules, "
                   "before the database shipped for the target (applied by default; "
                   "`--tune-db none`: default schedules only).")
@click.option("--weights", "weight_layout", type=click.Choice(WEIGHT_LAYOUTS), default="auto",
              show_default=True,
              help="Cortex-M DSP pointwise weights: fast (int16 layout, about 1.4x the weight flash), "
                   "compact (int8, slower), auto (fast, int8 on the fewest layers that make "
                   "the model fit flash).")
@click.option("--memory", type=click.Choice(MEMORY_MODES), default="auto", show_default=True,
              help="Cortex-M activation memory: depthwise in place (output over its input, "
                   "a few rows of scratch) and the first layers in spatial patches "
                   "(MCUNetV2). min: in place wherever legal, patches with the smallest "
                   "peak within +15 % estimated instructions; fast: neither; auto: in place "
                   "where it lowers the peak, patches only if the model does not fit SRAM "
                   "otherwise.")
@board_options
@click.option("--nms", type=click.Choice(["fast", "regular"]), help="Detectors: "
              "TFLite_Detection_PostProcess fast NMS or regular (per-class) NMS (default: "
              "what the model carries, fast unless changed).")
@click.option("--score-threshold", type=float, help="Detectors: lowest reported score.")
@click.option("--iou-threshold", type=float, help="Detectors: NMS suppresses IoU above this.")
@click.option("--max-detections", type=int, help="Detectors: detections reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON only.")
def command(model: str, target_name: str, out_dir: Path | None, calib: str | None,
            method: str, per_tensor: bool, limit: int, arch: str | None,
            width: float | None, resolution: int | None, num_classes: int | None,
            in_channels: int | None, show_layers: bool, jobs: int, tune_db: Path | None,
            weight_layout: str, memory: str, port: str | None, baud: int | None, probe: str | None,
            drive: Path | None, nms: str | None, score_threshold: float | None,
            iou_threshold: float | None, max_detections: int | None,
            as_json: bool) -> None:
    """Compile MODEL (default: the shipped default model) for a target. Cortex-M targets
    (kind mcu): memory plan, model.c, firmware.elf and manifest.json in the build
    directory. Linux boards (kind linux, e.g. rpi4): a TVM module, model.so cross-compiled
    for the board plus kernels.so, model.qgraph and manifest.json (run it over TVM RPC).

    MODEL is a .qgraph, or anything `edgemb quantize` takes (zoo architecture, `default`,
    checkpoint, state dict with --arch, float .onnx), quantized with the same options.
    With --tune-db (a database of `edgemb tune` for the same target), tuned kernels are
    used: on Cortex-M each tuned layer's kernels are compared in QEMU, or on the board at
    --port (one-layer firmware flashed and timed per kernel); on Linux the database's
    schedules are applied. A detector or segmenter gets its post-processing (NMS or the
    argmax) from the model's metadata; the NMS options change it (stored in the build)."""
    target = load_target(target_name)
    nms_given = {k: v for k, v in (("use_regular_nms", None if nms is None else
                                    nms == "regular"), ("score_threshold", score_threshold),
                                   ("iou_threshold", iou_threshold),
                                   ("max_detections", max_detections)) if v is not None}

    def quantized():
        g = load_qgraph(model, opts)
        return with_nms(g, **nms_given) if nms_given else g

    if port and tune_db is None:
        raise EdgembError("--port is for comparing kernels on the board with --tune-db; "
                          "flash the build with `edgemb flash`")
    out_dir = out_dir or Path("build") / target.name
    opts = ModelOptions(arch=arch, width=width, resolution=resolution, num_classes=num_classes,
                        in_channels=in_channels, method=method, calib=calib,
                        calib_count=limit, per_tensor_weights=per_tensor)
    if target.kind == "linux":  # Cortex-A boards: the TVM backend (.so for TVM RPC)
        from edgemobilenet.backends.tvm import compile_linux
        doc = compile_linux(quantized(), target, out_dir, tune_db)
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(f"{doc['target']}: model {doc['model_hash'][:12]}, {doc['nodes']} nodes, "
                   f"{doc['library_bytes']:,} byte library; wrote {out_dir}/ (model.so, "
                   f"model.qgraph, manifest.json)")
        click.echo(_schedules_line(doc))
        for note in doc["tune_notes"]:
            click.echo(f"note: {note}", err=True)
        return
    connect = board_connect(target, port, baud, probe, drive)
    con = Console(stderr=True)
    if calib is None and not model.lower().endswith((".qgraph", ".tflite")) and not as_json:
        con.print("[yellow]warning:[/] no --calib data: calibrating on random inputs, the "
                  "int8 model's accuracy is meaningless", highlight=False)
    if as_json:
        doc = compile_mcu(quantized(), target, out_dir, jobs=jobs,
                          tune_db=tune_db, connect=connect, weight_layout=weight_layout,
                          memory=memory)
        click.echo(json.dumps(doc, indent=2))
        return
    with con.status(f"quantizing {model}") as status:
        g = quantized()
        doc = compile_mcu(g, target, out_dir, jobs=jobs, tune_db=tune_db, connect=connect,
                          weight_layout=weight_layout, memory=memory,
                          step=lambda s: status.update(f"{s}: {model} for {target.name}"))
    _print(doc, out_dir, show_layers)


def _schedules_line(doc: dict) -> str:
    """Where the kernels' schedules came from: each database applied, then the defaults."""
    n = len(doc["kernels"])
    parts = [f"{d['kernels']} from {d['label']} ({d['path']})" for d in doc["tune_dbs"]]
    tuned = sum(d["kernels"] for d in doc["tune_dbs"])
    return "schedules: " + ", ".join(parts + [f"{n - tuned} default"]) + f" ({n} kernels)"
