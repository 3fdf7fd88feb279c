"""`edgemb tune`: MetaSchedule-tune a model's kernels for a Linux target into a database."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.cli.quantize_cmd import model_options, ptq_options
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph


@click.command("tune")
@click.argument("model", required=False, default="default")
@click.option("--target", "-t", "target_name", required=True, help="Linux target (rpi4, host, ...).")
@click.option("--tracker", default=None, help="Measure on a board registered at tracker HOST:PORT.")
@click.option("--key", default=None, help="Tracker key (default: the target's rpc.key).")
@click.option("--rpc", default=None, help="(not supported by MetaSchedule: use --tracker)")
@click.option("--local", is_flag=True, help="Measure on this machine (host targets).")
@click.option("--trials", type=int, default=64, show_default=True, help="Total trials.")
@click.option("--trials-per-task", type=int, default=None, help="Cap per kernel [--trials].")
@click.option("--max-tasks", type=int, default=None, help="Tune only the first N kernels.")
@click.option("--db", "db_dir", type=click.Path(path_type=Path), default=None,
              help="Database directory (default: build/tune-<target>), reused across runs.")
@ptq_options
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON only.")
def command(model: str, target_name: str, tracker: str | None, key: str | None,
            rpc: str | None, local: bool, trials: int, trials_per_task: int | None,
            max_tasks: int | None, db_dir: Path | None, calib: str | None, method: str,
            per_tensor: bool, limit: int, arch: str | None, width: float | None,
            resolution: int | None, num_classes: int | None, in_channels: int | None,
            as_json: bool) -> None:
    """Tune MODEL's kernels for TARGET; `edgemb compile --tune-db DIR` then uses them."""
    from edgemobilenet.backends.tvm.tune import tune

    if rpc:
        raise EdgembError(f"--rpc {rpc}: MetaSchedule measures through a tracker; start one "
                          f"(edgemb board tracker) and serve the board with --tracker")
    t = linux_target(target_name)
    db_dir = db_dir or Path("build") / f"tune-{t.name}"
    opts = ModelOptions(arch=arch, width=width, resolution=resolution, num_classes=num_classes,
                        in_channels=in_channels, method=method, calib=calib,
                        calib_count=limit, per_tensor_weights=per_tensor)
    con = Console(stderr=True)
    with con.status(f"tuning {model} for {t.name} ({trials} trials; MetaSchedule logs in "
                    f"{db_dir}/logs)"):
        g = load_qgraph(model, opts)
        doc = tune(g, t, db_dir, trials, tracker=tracker, key=key, local=local,
                   trials_per_task=trials_per_task, max_tasks=max_tasks)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    con.print(f"tuned {len(doc['tasks'])} kernels, {doc['records']} records in {db_dir}; "
              f"use: edgemb compile {model} --target {t.name} --tune-db {db_dir}",
              highlight=False)
