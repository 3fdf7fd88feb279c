"""`edgemb demo` (what `make demo` runs): default model -> int8 -> Cortex-M firmware -> QEMU
bench on Fashion-MNIST (and the emulated Raspberry Pi 4 over TVM RPC) -> a short table and
an HTML report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from edgemobilenet.cli.bench_cmd import stage_progress, stdout_console
from edgemobilenet.demo import PI_TARGET, TARGETS, pi_ready, run_demo


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _kb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1024:,.1f}"


def _latency(lat: dict[str, Any]) -> str:
    if lat["unit"] == "instructions":
        return f"{lat['median']:,} instr"
    return f"{lat['ms_median']:,.2f} ms" + (" (emu)" if lat.get("emulated") else "")


def print_summary(res: dict[str, Any], con: Console) -> None:
    t = Table(title=f"{res['model']}: top-1 on Fashion-MNIST test images, int8 in emulation",
              box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("target", "float", "int8", "device", "ref. match", "latency (median)",
                "code+weights KB", "RAM KB"):
        t.add_column(col, justify="left" if col == "target" else "right", no_wrap=True)
    for doc in res["results"]:
        acc, mem = doc["accuracy"], doc["memory"]
        code = mem["library_bytes"] if "library_bytes" in mem else mem["flash_bytes"]
        t.add_row(doc["target"], _pct(acc.get("float_top1")), _pct(acc.get("int8_top1")),
                  _pct(acc.get("device_top1")), _pct(acc["reference_match"]),
                  _latency(doc["latency"]), _kb(code), _kb(mem.get("sram_bytes")))
    con.print(t)
    n = res["results"][0]["accuracy"]["images"] if res["results"] else 0
    con.print(f"{n} images; int8 top-1 is the numpy reference executor, device top-1 the "
              "firmware (or the TVM module); MCU latency is the median of QEMU -icount "
              "instruction counts, not cycles", highlight=False)
    if any("library_bytes" in d["memory"] for d in res["results"]):
        con.print(f"{PI_TARGET}: ms timed on the emulated Pi (TVM RPC server under "
                  "qemu-aarch64): emulation speed, not Pi speed; code+weights is the .so; RAM "
                  "n/a (the TVM runtime allocates from the heap)", highlight=False)
    for doc in res["results"]:
        for note in doc["accuracy"].get("notes", []):
            con.print(f"[yellow]note:[/] {doc['target']}: {note}", highlight=False)
    con.print(f"report: {res['reports'][0]}", highlight=False)


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=Path("build") / "demo", show_default=True, help="Output directory.")
@click.option("--target", "-t", "targets", multiple=True,
              help=f"Emulated target(s) (default: {', '.join(TARGETS)}; e.g. add -t "
              "mps2-an386 -t mps3-an547).")
@click.option("--limit", default=200, show_default=True, help="Test images.")
@click.option("--model", default="default", show_default=True, hidden=True)
@click.option("--calib-limit", "calib_count", default=256, show_default=True,
              help="Calibration images.")
@click.option("--pi/--no-pi", default=None,
              help=f"Also bench on the emulated Raspberry Pi 4 ({PI_TARGET}, TVM RPC under "
              "qemu-aarch64). Default: when its aarch64 root is prepared (`edgemb board "
              "prepare`); --pi prepares it if needed (downloads ~40 MB once).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON only.")
def command(out_dir: Path, targets: tuple[str, ...], limit: int, model: str, calib_count: int,
            pi: bool | None, as_json: bool) -> None:
    """Quantize the default model (calibrated on Fashion-MNIST), compile it for an emulated
    Cortex-M4 (and the emulated Raspberry Pi 4), bench it on Fashion-MNIST test images, and
    write an HTML report."""
    con = Console(stderr=True)

    def step(msg: str) -> None:
        if not as_json:
            con.print(msg, highlight=False)

    if pi is None:
        pi = pi_ready()
        if not pi:
            step(f"skipping the emulated {PI_TARGET}: its aarch64 root is not prepared (run "
                 "`edgemb board prepare` once, or pass --pi)")
    with stage_progress(None if as_json else con) as progress:
        res = run_demo(out_dir, model=model, targets=targets or TARGETS, limit=limit,
                       calib_count=calib_count, pi=pi, step=step, progress=progress)
    if as_json:
        click.echo(json.dumps({**res, "results": [{k: v for k, v in d.items() if k != "arena"}
                                                  for d in res["results"]]}))
        return
    print_summary(res, stdout_console())
