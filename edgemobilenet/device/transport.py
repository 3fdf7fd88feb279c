"""Transport selection: a real serial port when one is given, else QEMU for an emulated
target. Either way the caller gets a `Device`."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from edgemobilenet.device.mcu import Device
from edgemobilenet.device.qemu import emulate
from edgemobilenet.device.serial_link import SerialLink
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import Target


@contextlib.contextmanager
def open_device(target: Target, elf: str | Path | None = None, port: str | None = None,
                baud: int | None = None, expected_hash: str | None = None,
                qemu_args: tuple[str, ...] = (), **device_kw) -> Iterator[Device]:
    """`port` (e.g. /dev/ttyACM0 or any pyserial URL): a board already flashed.
    Otherwise `elf` runs in QEMU (the target needs a [qemu] section; `qemu_args`: more
    QEMU arguments)."""
    if target.kind != "mcu":
        raise EdgembError(f"{target.name}: kind '{target.kind}' is not driven over serial")
    if port:
        with SerialLink(port, baud or (target.uart.baud if target.uart else 115200)) as link:
            yield Device(link, expected_hash=expected_hash, **device_kw)
        return
    if elf is None:
        raise EdgembError(f"{target.name}: give a serial port or a firmware ELF to emulate")
    with emulate(target, elf, extra_args=tuple(qemu_args)) as emu:
        yield Device(emu.link, expected_hash=expected_hash, **device_kw)
