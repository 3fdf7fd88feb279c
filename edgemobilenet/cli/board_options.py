"""Options for measuring on a real Cortex-M board (`tune --port`, `compile --tune-db --port`):
each build is flashed with the target's method (or --probe) and then driven over --port."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from edgemobilenet.device.flash import PROBES


def board_options(f: Callable) -> Callable:
    for opt in reversed([
        click.option("--port", default=None,
                     help="MCU targets: measure on a real board at this serial port "
                          "(/dev/ttyACM0 or a pyserial URL); each build is flashed first."),
        click.option("--baud", type=int, default=None, help="Baud rate (default: the target's)."),
        click.option("--probe", type=click.Choice(PROBES), default=None,
                     help="Flashing tool instead of the target file's flash.method."),
        click.option("--drive", type=click.Path(path_type=Path), default=None,
                     help="Mount point of the board's USB drive (for --probe copy)."),
    ]):
        f = opt(f)
    return f


def board_connect(target, port: str | None, baud: int | None, probe: str | None,
                  drive: Path | None):
    """The board connector for `--port`, or None (measure in QEMU)."""
    if not port:
        return None
    from edgemobilenet.backends.tvm.mcu.board_runner import board_connector
    return board_connector(target, port, baud, probe, str(drive) if drive else None)
