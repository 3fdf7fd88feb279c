"""`edgemb`: the command-line front. Thin: parse, call, print.

Each subcommand lives in its own module here and registers itself on `main`.
"""
from __future__ import annotations

import importlib
import sys

import click

from edgemobilenet.errors import EdgembError

# one module per command; each defines a click command named `command`
_COMMANDS = ["profile_cmd", "train_cmd", "quantize_cmd", "eval_cmd", "compile_cmd",
             "bench_cmd", "flash_cmd", "targets_cmd", "demo_cmd", "tune_cmd", "board_cmd"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """edgemobilenet: integer-only int8 MobileNets on Raspberry Pi and Cortex-M."""


for _mod in _COMMANDS:
    try:
        _m = importlib.import_module(f"edgemobilenet.cli.{_mod}")
    except ModuleNotFoundError as e:  # command not built yet
        if e.name != f"edgemobilenet.cli.{_mod}":
            raise
        continue
    main.add_command(_m.command)


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
