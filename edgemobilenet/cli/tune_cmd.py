"""`edgemb tune`: MetaSchedule-tune a model's kernels for a target into a database on disk.

Linux targets (TVM Relax kernels, measured on this machine or on a board behind a tracker)
go to `backends.tvm.tune`; MCU targets (TVM kernels measured in QEMU) to
`backends.tvm.mcu.tune`."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click
from rich.console import Console

from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.targets import load_target
from edgemobilenet.cli.board_options import board_connect, board_options
from edgemobilenet.cli.quantize_cmd import model_options, ptq_options
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph


@click.command("tune")
@click.argument("model", required=False, default="default")
@click.option("--target", "-t", "target_name", required=True,
              help="Target: linux (rpi4, host, ...) or mcu (mps2-an386, ...).")
@click.option("--tracker", default=None, help="Measure on a board registered at tracker HOST:PORT.")
@click.option("--key", default=None, help="Tracker key (default: the target's rpc.key).")
@click.option("--rpc", default=None, help="Measure on a board's RPC server at HOST:PORT.")
@click.option("--local", is_flag=True, help="Measure on this machine (host targets).")
@click.option("--emulate", is_flag=True,
              help="Measure candidates by instruction count in emulation: MCU targets in QEMU "
              "(the default for them), Linux targets on the emulated core (qemu-aarch64 "
              "-cpu of the target, one thread).")
@board_options
@click.option("--trials", type=int, default=64, show_default=True, help="Total trials.")
@click.option("--trials-per-task", type=int, default=None, help="Cap per kernel [--trials].")
@click.option("--max-tasks", type=int, default=None, help="Tune only the first N kernels.")
@click.option("--space", type=click.Choice(["knobs", "metaschedule"]), default="knobs",
              show_default=True, help="Linux targets: the knobs of our default schedules "
              "(conv register tile, depthwise tile) or MetaSchedule's own search space.")
@click.option("--db", "db_dir", type=click.Path(path_type=Path), default=None,
              help="Database directory (default: build/tune-<target>), reused across runs.")
@ptq_options
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON only.")
def command(model: str, target_name: str, tracker: str | None, key: str | None,
            rpc: str | None, local: bool, emulate: bool, port: str | None, baud: int | None,
            probe: str | None, drive: Path | None, trials: int, trials_per_task: int | None,
            max_tasks: int | None, space: str, db_dir: Path | None, calib: str | None, method: str,
            per_tensor: bool, limit: int, arch: str | None, width: float | None,
            resolution: int | None, num_classes: int | None, in_channels: int | None,
            as_json: bool) -> None:
    """Tune MODEL's kernels for TARGET; `edgemb compile --tune-db DIR` then uses them."""
    board = load_target(target_name)
    db_dir = db_dir or Path("build") / f"tune-{board.name}"
    opts = ModelOptions(arch=arch, width=width, resolution=resolution, num_classes=num_classes,
                        in_channels=in_channels, method=method, calib=calib,
                        calib_count=limit, per_tensor_weights=per_tensor)
    con = Console(stderr=True)
    if board.kind == "mcu":
        if emulate and port:
            raise EdgembError("give either --emulate (QEMU) or --port (a real board)")
        doc = _tune_mcu(model, board, opts, db_dir, trials,
                        board_connect(board, port, baud, probe, drive), con)
    else:
        if port:
            raise EdgembError(f"--port is for microcontroller targets; {board.name} is "
                              f"measured over --rpc, --tracker, --emulate or --local")
        doc = _tune_linux(model, board, opts, db_dir, trials, tracker, key, local, rpc,
                          emulate, trials_per_task, max_tasks, space, con)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    con.print(f"tuned {model} for {board.name} into {db_dir}; use: edgemb compile {model} "
              f"--target {board.name} --tune-db {db_dir}", highlight=False)


def _tune_linux(model: str, board, opts: ModelOptions, db_dir: Path, trials: int,
                tracker: str | None, key: str | None, local: bool, rpc: str | None,
                emulate: bool, trials_per_task: int | None, max_tasks: int | None, space: str,
                con: Console) -> dict:
    """MetaSchedule over the model's kernels, with a progress bar over the candidates."""
    from edgemobilenet.backends.tvm.tune import tune
    with con.status(f"quantizing {model} and extracting its kernels"):
        g = load_qgraph(model, opts)
    with _bar(con, f"tuning for {board.name}") as (p, bar):
        def step(s: dict) -> None:
            best = "" if s["best_ms"] is None else (
                f"best kernel {s['best_ms'] * 1e6:,.0f} instructions" if emulate else
                f"best kernel {s['best_ms']:.3f} ms")
            p.update(bar, completed=s["done"], total=s["total"],
                     info=f"{best}, {s['failed']} failed")
        doc = tune(g, linux_target(board), db_dir, trials, tracker=tracker, key=key,
                   local=local, rpc=rpc, emulate=emulate, trials_per_task=trials_per_task, max_tasks=max_tasks,
                   space=space, progress=step)
    con.print(f"{doc['new_records']} new candidates measured ({doc['records']} in the "
              f"database, {doc['measured']} valid)", highlight=False)
    return doc


def _tune_mcu(model: str, board, opts: ModelOptions, db_dir: Path, trials: int,
              connect, con: Console) -> dict:
    """MetaSchedule per layer task in QEMU (or on the board of `connect`), with a progress
    bar over the tasks."""
    if connect is None and not board.qemu:
        raise EdgembError(f"{board.name}: no QEMU machine to measure candidates on; give the "
                          f"board's serial --port, or tune the emulated target with the same "
                          f"CPU (edgemb targets)")
    from edgemobilenet.backends.tvm.mcu.tune import tasks, tune_mcu
    with con.status(f"quantizing {model}"):
        g = load_qgraph(model, opts)
    where = "in QEMU" if connect is None else "on the board"
    with _bar(con, f"tuning {where}", total=len(tasks(g))) as (p, bar):
        def step(entry: dict) -> None:
            unit = "cycles" if "best_cycles" in entry else "instructions"
            best = entry.get(f"best_{unit}")
            p.update(bar, advance=1, info=f"layer {entry.get('layer')}: best "
                     f"{best:,} {unit}" if best else "")
        return tune_mcu(g, board, db_dir, trials, step, connect=connect)


@contextlib.contextmanager
def _bar(con: Console, label: str, total: int | None = None):
    """A transient rich progress bar: yields (progress, task id)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=con,
                  transient=True) as p:
        yield p, p.add_task("tune", total=total, info="")
