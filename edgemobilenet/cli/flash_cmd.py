"""`edgemb flash`: put a build's firmware on a board (or boot it in QEMU for an emulated one)."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from edgemobilenet.device.flash import PROBES, flash, plan_flash, read_build
from edgemobilenet.targets import load_target


@click.command("flash")
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--target", "-t", "target_name",
              help="Target name or TOML file (default: the one the build was made for).")
@click.option("--probe", type=click.Choice(PROBES),
              help="Flashing tool instead of the target file's flash.method.")
@click.option("--drive", type=click.Path(path_type=Path),
              help="Mount point of the board's USB drive (for --probe copy).")
@click.option("--dry-run", is_flag=True, help="Print the commands, run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON only.")
def command(build_dir: Path, target_name: str | None, probe: str | None, drive: Path | None,
            dry_run: bool, as_json: bool) -> None:
    """Flash BUILD_DIR/firmware.elf with the target's method (openocd, pyocd, st-flash,
    copy to the board's drive; converting the ELF to bin/hex as needed). For an emulated
    target this boots the ELF in QEMU and checks the firmware answers with the build's
    model hash."""
    _, doc = read_build(build_dir)
    target = load_target(target_name or doc["target"])
    plan = plan_flash(build_dir, target, probe, drive)
    if dry_run:
        if as_json:
            click.echo(json.dumps({"method": plan.method, "commands": plan.lines()}))
        else:
            for line in plan.lines():
                click.echo(line)
        return
    con = Console(stderr=as_json)
    with con.status(f"flashing {target.name} with {plan.method}"):
        res = flash(plan, target, doc["model_hash"])
    if as_json:
        click.echo(json.dumps(res))
    elif plan.method == "qemu":
        con.print(f"booted {res['image']} on qemu {res['machine']}: model "
                  f"{res['model_hash'][:12]} answers ({res['layers']} layers, input "
                  f"{'x'.join(map(str, res['input_shape']))})", highlight=False)
    else:
        con.print(f"flashed {res['image']} to {target.name} with {plan.method}",
                  highlight=False)
