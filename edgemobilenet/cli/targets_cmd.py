"""`edgemb targets`: list the boards under targets/."""
from __future__ import annotations

import json

import click
from rich import box
from rich.console import Console
from rich.table import Table

from edgemobilenet.targets import list_targets


def _row(t) -> dict:
    return {
        "name": t.name, "kind": t.kind, "cpu": t.cpu, "clock_hz": t.clock_hz,
        "flash_bytes": t.flash_bytes, "sram_bytes": t.sram_bytes,
        "features": t.features, "kernels": t.kernels, "emulated": t.emulated,
        "qemu_machine": t.qemu.machine if t.qemu else None,
        "flash_method": t.flash.method if t.flash else None,
        "description": t.description, "path": str(t.path),
    }


def _size(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 2**20:g}M" if n >= 2**20 and n % 2**18 == 0 else f"{n // 1024}K"


@click.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def command(as_json: bool) -> None:
    """List the target boards (targets/*.toml)."""
    rows = [_row(t) for t in list_targets()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="targets", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for col in ("name", "kind", "cpu", "MHz", "flash", "SRAM", "features", "runs on"):
        table.add_column(col, no_wrap=True,
                         justify="right" if col in ("MHz", "flash", "SRAM") else "left")
    for r in rows:
        feats = "+".join(k for k, v in sorted(r["features"].items()) if v) or "-"
        where = "qemu" if r["emulated"] else (r["flash_method"] or "rpc")
        table.add_row(r["name"], r["kind"], r["cpu"], f"{r['clock_hz'] / 1e6:g}",
                      _size(r["flash_bytes"]), _size(r["sram_bytes"]), feats, where)
    Console().print(table)
