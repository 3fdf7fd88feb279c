"""`edgemb bench`: latency, accuracy and memory of a build on a device or in emulation."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from edgemobilenet import bench


@contextlib.contextmanager
def stage_progress(console: Console | None) -> Iterator[bench.Progress | None]:
    """A bench progress callback drawing one bar per stage on `console` (None: no display)."""
    if console is None:
        yield None
        return
    with Progress(TextColumn("{task.description:>10}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), console=console,
                  transient=True) as p:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = p.add_task(stage, total=total)
            p.update(tasks[stage], completed=done)

        yield progress


def stdout_console() -> Console:
    """Console for results on stdout: 120 columns when piped (rich would use 80 and cut
    table cells), the terminal's width otherwise."""
    con = Console()
    return con if con.is_terminal else Console(width=120)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _print_dense(acc: dict[str, Any], dense: dict[str, Any], con: Console) -> None:
    from edgemobilenet.bench_dense import METRICS

    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(dense["task"])
    for title, _ in METRICS[dense["task"]]:
        t.add_column(title, justify="right")
    for name, key in (("float", "float"), ("int8 (reference)", "int8"), ("device", "device")):
        m = dense.get(key)
        t.add_row(name, *(_pct(m[k] if m else None) for _, k in METRICS[dense["task"]]))
    con.print(t)
    nms = dense.get("nms")
    how = (f"; {'regular' if nms['use_regular_nms'] else 'fast'} NMS, score >= "
           f"{nms['score_threshold']:g}, IoU > {nms['iou_threshold']:g} suppressed, "
           f"{nms['max_detections']} detections" if nms else "; per-pixel argmax")
    con.print(f"on {acc['images']} images; post-processing on {acc['postprocess_on']}{how}; "
              f"device results equal the int8 reference's: "
              f"{'yes' if dense['device_equals_int8'] else 'NO'}", highlight=False)


def print_result(doc: dict[str, Any], con: Console) -> None:
    lat, acc, mem = doc["latency"], doc["accuracy"], doc["memory"]
    con.print(f"[bold]{doc['target']}[/] over {doc['transport']}: model "
              f"{doc['model_hash'][:12]}, {_n(doc.get('macs'))} MACs", highlight=False)
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("latency per inference")
    ticks = lat["unit"] != "ns"  # times (ns) are shown in ms only
    if ticks:
        t.add_column(lat["unit_label"], justify="right")
    if lat.get("ms_median") is not None:
        t.add_column("ms", justify="right")
    for k in ("median", "p90"):
        row = [f"{k} of {lat['runs']}"] + ([_n(lat[k])] if ticks else [])
        if lat.get("ms_median") is not None:
            row.append(f"{lat[f'ms_{k}']:.3f}")
        t.add_row(*row)
    con.print(t)
    if not ticks:
        con.print(f"latency: {lat['unit_label']}", highlight=False)
    if ins := lat.get("instructions"):
        per_mac = f", {ins['per_mac']:.2f} per MAC" if ins.get("per_mac") else ""
        con.print(f"instructions per inference on an emulated {ins['cpu']} ({ins['threads']} "
                  f"thread): {ins['per_inference']:,}{per_mac}; {ins['label']}",
                  highlight=False)
    if est := lat.get("estimate"):
        con.print(f"estimated {est['cpu']} cycles (a model, not measured): {est['cycles']:,} "
                  f"(range {est['cycles_low']:,}-{est['cycles_high']:,}) = {est['ms']:.2f} ms "
                  f"({est['ms_low']:.2f}-{est['ms_high']:.2f}) at "
                  f"{est['clock_hz'] / 1e6:g} MHz; zero-wait memory, no caches",
                  highlight=False)
    for note in lat.get("notes", []):
        con.print(f"[yellow]note:[/] {note}", highlight=False)
    if lat.get("layers"):
        top = sorted(lat["layers"], key=lambda r: -r["median"])[:5]
        con.print(f"slowest {lat.get('breakdown', 'layer')}s: " + ", ".join(
            f"{r['index']} {r['name']} ({r['op']}) {100 * r['share']:.1f}%" for r in top),
            highlight=False)
    a = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    if dense := acc.get("dense"):
        _print_dense(acc, dense, con)
    elif acc["images"]:
        for col in ("accuracy", "top-1", "top-5"):
            a.add_column(col, justify="left" if col == "accuracy" else "right")
        for name, key in (("float", "float"), ("int8 (reference)", "int8"),
                          ("device", "device")):
            a.add_row(name, _pct(acc.get(f"{key}_top1")), _pct(acc.get(f"{key}_top5")))
        con.print(a)
        con.print(f"on {acc['images']} images", highlight=False)
    con.print(f"outputs bit-identical to the reference: {_pct(acc['reference_match'])} of "
              f"{acc['compared']}", highlight=False)
    if acc.get("first_mismatch"):
        con.print(f"[red]first differing layer:[/] {acc['first_mismatch']['text']}",
                  highlight=False)
    for note in acc.get("notes", []):
        con.print(f"[yellow]note:[/] {note}", highlight=False)
    m = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    m.add_column("memory")
    m.add_column("bytes", justify="right")
    rows = ((("shared library (.so)", "library_bytes"),) if "library_bytes" in mem else
            (("flash", "flash_bytes"), ("SRAM", "sram_bytes"), ("arena", "arena_bytes"),
             ("stack reserved", "stack_bytes"), ("stack high-water", "stack_high_water")))
    for name, key in rows:
        m.add_row(name, _n(mem.get(key)))
    con.print(m)
    for note in mem.get("notes", []):
        con.print(f"[yellow]note:[/] {note}", highlight=False)


@click.command("bench")
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--port", help="Serial port of a flashed board (/dev/ttyACM0 or a pyserial URL).")
@click.option("--baud", type=int, help="Baud rate (default: the target's).")
@click.option("--emulate", is_flag=True, help="Run the build in emulation: MCU firmware in "
              "QEMU, a Linux build on an emulated Pi (TVM RPC server under qemu-aarch64).")
@click.option("--rpc", metavar="HOST:PORT", help="A TVM RPC server (Linux boards).")
@click.option("--tracker", metavar="HOST:PORT", help="A TVM RPC tracker (with --key).")
@click.option("--key", help="Device key at the tracker.")
@click.option("--data", help="Labelled test data, as `edgemb eval` takes it (fashion-mnist, "
              "an ImageFolder directory, a CSV).")
@click.option("--limit", type=int, help="Use this many random images of DATA.")
@click.option("--repeat", default=10, show_default=True, help="Latency runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.option("--report", type=click.Path(path_type=Path), help="Write an HTML report here.")
@click.option("--timeout", default=5.0, show_default=True,
              help="Seconds to wait for each device reply before retrying.")
@click.option("--count/--no-count", default=True, show_default=True,
              help="Linux builds with --emulate: also count instructions per inference on "
              "the emulated core (QEMU plugin, one thread).")
def command(build_dir: Path, port: str | None, baud: int | None, emulate: bool, rpc: str | None,
            tracker: str | None, key: str | None, data: str | None, limit: int | None,
            repeat: int, as_json: bool, report: Path | None, timeout: float,
            count: bool) -> None:
    """Measure BUILD_DIR on a device: latency (median/p90, per layer), accuracy on DATA
    (device vs float vs the int8 reference, bit-exactness) and memory.

    MCU builds run on a board (--port) or in QEMU (--emulate); Linux builds (Raspberry Pi)
    over TVM RPC (--rpc, or --tracker with --key) or on an emulated Pi (--emulate)."""
    con = Console(stderr=True)
    with stage_progress(None if as_json else con) as progress:
        doc = bench.measure(build_dir, port=port, baud=baud, emulate=emulate, rpc=rpc,
                            tracker=tracker, key=key, data=data, limit=limit, repeat=repeat,
                            timeout=timeout, progress=progress,
                            status=None if as_json else lambda m: con.print(m, highlight=False),
                            count_instructions=emulate and count)
    if report:
        from edgemobilenet.report import write_report
        write_report(report, doc)
    if as_json:
        click.echo(json.dumps({k: v for k, v in doc.items() if k not in ("arena", "samples")}))
        return
    out = stdout_console()
    print_result(doc, out)
    if report:
        out.print(f"wrote {report}", highlight=False)
