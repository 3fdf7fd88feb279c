"""Emulated MCU targets: start qemu-system-arm with the target's machine, expose its UART
as a Link, and always stop QEMU (by PID) on the way out."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edgemobilenet.device.serial_link import SerialLink
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import Target

QEMU = "qemu-system-arm"
GUEST_FAULT = 0xFA   # exit code of the firmware's fault handler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(target: Target, elf: Path, port: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The QEMU command line for `target` (icount: one instruction = 1 ns virtual time);
    `extra`: more arguments (a -plugin)."""
    assert target.qemu is not None
    return [QEMU, "-M", target.qemu.machine, "-kernel", str(elf), "-display", "none",
            "-monitor", "none", "-nodefaults",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
            *target.qemu.args, *extra]


class Emulation:
    """A running QEMU: `link` is its UART. Use through `emulate()`."""

    def __init__(self, target: Target, proc: subprocess.Popen, link: SerialLink,
                 log: Path) -> None:
        self.target, self.proc, self.link, self.log = target, proc, link, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_reason(self, wait: float = 0.0) -> str:
        """"" while QEMU runs (after waiting up to `wait` s for it to end); else why it
        stopped (exit code, fault, its last message)."""
        try:
            code = self.proc.wait(timeout=wait) if wait > 0 else self.proc.poll()
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return ""
        return _describe_exit(self.target, code, self.log)


def _describe_exit(target: Target, code: int, log: Path) -> str:
    what = ("the guest faulted" if code == GUEST_FAULT else
            f"killed by signal {-code}" if code < 0 else f"it exited with code {code}")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    tail = [ln for ln in lines
            if ln.strip() and "warning:" not in ln and " info: " not in ln][-1:]
    return f"qemu {target.qemu.machine} stopped: {what}" + (f": {tail[0]}" if tail else "")


def _stop(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgembError(f"qemu pid {proc.pid}: still running {timeout}s after SIGKILL") from None


@contextlib.contextmanager
def emulate(target: Target, elf: str | Path, start_timeout: float = 10.0,
            stop_timeout: float = 5.0, extra_args: tuple[str, ...] = ()) -> Iterator[Emulation]:
    """Run `elf` on the target's QEMU machine; yields an Emulation whose `link` speaks to
    the firmware's UART. QEMU is killed by PID when the block ends, however it ends."""
    if target.qemu is None:
        raise EdgembError(f"{target.name}: no [qemu] section: this target cannot be emulated")
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise EdgembError(f"{elf}: no such firmware file")
    if shutil.which(QEMU) is None:
        raise EdgembError(f"{QEMU}: not installed (run tools/setup.sh)")
    with tempfile.TemporaryDirectory(prefix="edgemb-qemu-") as tmp:
        log = Path(tmp) / "qemu.log"
        port = _free_port()
        with open(log, "wb") as logf:
            proc = subprocess.Popen(qemu_command(target, elf, port, extra_args), stdin=subprocess.DEVNULL,
                                    stdout=logf, stderr=subprocess.STDOUT, cwd=tmp,
                                    start_new_session=True)
        try:
            link = _connect(target, proc, port, log, start_timeout)
            emu = Emulation(target, proc, link, log)
            link._diagnose = emu.exit_reason
            try:
                yield emu
            finally:
                link.close()
        finally:
            _stop(proc, stop_timeout)


def _connect(target: Target, proc: subprocess.Popen, port: int, log: Path,
             timeout: float) -> SerialLink:
    """Connect to QEMU's UART server (QEMU starts the guest on this first connection)."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise EdgembError(_describe_exit(target, code, log))
        try:
            return SerialLink(f"socket://127.0.0.1:{port}")
        except EdgembError:
            if time.monotonic() > deadline:
                raise EdgembError(f"qemu {target.qemu.machine}: UART socket did not open "
                                  f"within {timeout}s") from None
            time.sleep(0.05)
