"""`edgemb profile`: parameters and multiply-adds per layer and in total."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from edgemobilenet.models.loader import load_model
from edgemobilenet.profile import profile_model


def _shape(s: list[int]) -> str:
    return "x".join(str(v) for v in s)


@click.command("profile")
@click.argument("model")
@click.option("--width", type=float, help="width multiplier alpha [1.0]")
@click.option("--width-rule", type=click.Choice(["paper", "torchvision"]),
              help="how MobileNetV3 widths round: the paper's reference implementation or "
                   "torchvision's (equal at width 1.0) [paper, or the checkpoint's]")
@click.option("--resolution", type=int, help="input side in pixels [224]")
@click.option("--num-classes", type=int, help="[1000]")
@click.option("--in-channels", type=int, help="[3]")
@click.option("--json", "as_json", is_flag=True, help="print JSON only")
def command(model, width, width_rule, resolution, num_classes, in_channels, as_json) -> None:
    """Params and MAdds of MODEL: a zoo architecture, `default` or a checkpoint."""
    loaded = load_model(model, width=width, resolution=resolution, num_classes=num_classes,
                        in_channels=in_channels, width_rule=width_rule)
    o = loaded.options
    prof = profile_model(loaded.module, (o["in_channels"], o["resolution"], o["resolution"]))
    if as_json:
        click.echo(json.dumps(prof.to_dict()))
        return
    table = Table(title=f"{loaded.arch} width {o['width']:g}, {o['resolution']}x{o['resolution']}"
                        f"x{o['in_channels']}, {o['num_classes']} classes")
    table.add_column("#")
    table.add_column("layer", overflow="fold")
    for col in ("op", "input", "output"):
        table.add_column(col)
    table.add_column("params", justify="right")
    table.add_column("MAdds", justify="right")
    for i, row in enumerate(prof.layers):
        table.add_row(str(i), row.name, row.op, _shape(row.input_shape), _shape(row.output_shape),
                      f"{row.params:,}", f"{row.madds:,}")
    table.add_section()
    table.add_row("", "total", "", "", "", f"{prof.params:,}", f"{prof.madds:,}")
    console = Console()
    console.print(table)
    console.print(f"{prof.params / 1e6:.2f} M params (BN folded into biases), "
                  f"{prof.madds / 1e6:.1f} M multiply-adds")
