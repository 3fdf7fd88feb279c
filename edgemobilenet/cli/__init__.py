"""`edgemb`: the command-line front. Thin: parse, call, print.

Each subcommand lives in its own module here, listed in `COMMANDS`.
"""
from __future__ import annotations

import importlib
import sys

import click

from edgemobilenet.errors import EdgembError

# name: (module defining a click command named `command`, the line `edgemb --help` shows).
# Modules are imported only when their command runs: `edgemb --help` stays fast.
COMMANDS = {
    "profile": ("profile_cmd", "Params and MAdds of a model, against the papers."),
    "train": ("train_cmd", "Train a zoo architecture on a dataset (resumable)."),
    "quantize": ("quantize_cmd", "Quantize a model to an int8 QGraph (PTQ or --qat)."),
    "eval": ("eval_cmd", "Top-1/top-5 of a model, float and int8."),
    "compile": ("compile_cmd", "Compile a model for a target: firmware or a TVM module."),
    "bench": ("bench_cmd", "Latency, accuracy and memory of a build on a device."),
    "flash": ("flash_cmd", "Flash a build onto a board with the target's method."),
    "targets": ("targets_cmd", "List the target boards (targets/*.toml)."),
    "demo": ("demo_cmd", "The whole pipeline on the default model, with a report."),
    "tune": ("tune_cmd", "MetaSchedule-tune a model's kernels for a target."),
    "export": ("export_cmd", "Export a QGraph or MODEL as int8 .tflite (LiteRT) or QDQ .onnx."),
    "board": ("board_cmd", "Serve a Linux board over TVM RPC (emulated Pi, tracker)."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"edgemobilenet.cli.{COMMANDS[name][0]}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """edgemobilenet: integer-only int8 MobileNets on Raspberry Pi and Cortex-M."""


def run() -> None:
    """Entry point: turn EdgembError into one line on stderr and exit status 2."""
    try:
        main.main(standalone_mode=False)
    except EdgembError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
