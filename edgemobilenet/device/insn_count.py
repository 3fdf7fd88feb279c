"""Instruction counts for aarch64 code under qemu-user: Cortex-A's counterpart of `-icount`.

`qemu-aarch64 -cpu <core> -plugin insn_count.so,out=FILE` (Debian's dynamically linked
`qemu-aarch64` from `qemu-user`; the static one cannot load plugins) counts every guest
instruction executed (`qemu_plugins/insn_count.c`). A guest marks a region of interest with
an unimplemented system call (`MARKER_SYSCALL`, label in its first argument), which the
plugin records with the count at that moment; or the caller takes the difference of two
runs of different lengths. The figures are **instructions**, not cycles and not time on a
Pi: the core's ISA is enforced (`-cpu cortex-a72` has no dotprod), its timing is not modelled.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgemobilenet.cache import cache_dir
from edgemobilenet import child
from edgemobilenet.errors import EdgembError

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "qemu_plugins"
MARKER_SYSCALL = 0x4544   # aarch64 Linux has no such call: the guest gets ENOSYS
QEMU_USER = "qemu-aarch64"


def plugin_path(name: str = "insn_count") -> Path:
    """The built plugin `qemu_plugins/<name>.c` (gcc, cached by source hash under
    ~/.cache/edgemb/qemu-plugins)."""
    src = PLUGIN_DIR / f"{name}.c"
    header = PLUGIN_DIR / "qemu_plugin_api.h"
    if not src.is_file():
        raise EdgembError(f"{src}: no such QEMU plugin source")
    digest = hashlib.sha256(src.read_bytes() + header.read_bytes()).hexdigest()[:12]
    out = cache_dir() / "qemu-plugins" / f"{name}-{digest}.so"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = ["gcc", "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra",
           "-Werror", f"-I{PLUGIN_DIR}", "-o", str(tmp), str(src)]
    r = child.run(cmd, f"{src} (building QEMU plugins needs gcc)", child.COMPILE_TIMEOUT_S)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise EdgembError(f"{src}: gcc failed: {r.stderr.strip().splitlines()[-1:]}")
    tmp.rename(out)
    return out


def qemu_user() -> str:
    """The dynamically linked qemu-aarch64 (loads plugins)."""
    path = shutil.which(QEMU_USER)
    if not path:
        raise EdgembError("instruction counting needs the dynamically linked qemu-aarch64 "
                          "(Debian package qemu-user; qemu-user-static cannot load plugins)")
    return path


def qemu_command(cpu: str, out: Path, marker: int = MARKER_SYSCALL) -> list[str]:
    """The qemu-aarch64 prefix that runs a guest program with counting to file `out`."""
    return [qemu_user(), "-cpu", cpu, "-plugin",
            f"{plugin_path()},out={out},marker={marker}"]


@dataclass
class Counts:
    """What the plugin wrote: per process (pid) the total, and the markers in order."""

    exits: dict[int, int] = field(default_factory=dict)
    marks: list[tuple[int, int, int]] = field(default_factory=list)   # (pid, label, count)

    @property
    def total(self) -> int:
        """Instructions of the one process that ran (a forked child would count on from
        its parent's count, so several processes have no single total)."""
        if len(self.exits) != 1:
            raise EdgembError(f"instruction count: {len(self.exits)} processes exited, "
                              "expected one")
        return next(iter(self.exits.values()))

    def between(self, start: int, end: int, pid: int | None = None) -> list[int]:
        """Instructions from each marker `start` to the next marker `end` (same process)."""
        out, opened = [], {}
        for p, label, count in self.marks:
            if pid is not None and p != pid:
                continue
            if label == start:
                opened[p] = count
            elif label == end and p in opened:
                out.append(count - opened.pop(p))
        return out


def parse(text: str) -> Counts:
    c = Counts()
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "mark":
            c.marks.append((int(f[1]), int(f[2]), int(f[3])))
        elif len(f) == 3 and f[0] == "exit":
            c.exits[int(f[1])] = int(f[2])
    return c


def run_counted(cmd: list[str], cpu: str, *, timeout: float, env: dict[str, str] | None = None,
                what: str = "guest program") -> tuple[subprocess.CompletedProcess, Counts]:
    """Run the aarch64 program `cmd` under `qemu-aarch64 -cpu cpu` with counting.

    Stopped (its whole process group) after `timeout` s with a one-line error; a non-zero
    exit is an error naming `what` and the end of its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="edgemb-icount-") as tmp:
        out = Path(tmp) / "counts"
        full = [*qemu_command(cpu, out), *cmd]
        try:
            proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env, start_new_session=True)
        except FileNotFoundError as e:
            raise EdgembError(f"{what}: cannot start {e.filename}") from None
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise EdgembError(f"{what} under qemu-aarch64 -cpu {cpu}: no result within "
                              f"{timeout:.0f} s (stopped)") from None
        except BaseException:
            _kill_group(proc)
            raise
        _kill_group(proc)   # children it may have left behind
        r = subprocess.CompletedProcess(full, proc.returncode, stdout, stderr)
        if r.returncode != 0:
            tail = " | ".join((stderr or stdout).strip().splitlines()[-2:])[:300]
            raise EdgembError(f"{what} under qemu-aarch64 -cpu {cpu} failed "
                              f"(exit {r.returncode}): {tail}")
        return r, parse(out.read_text() if out.exists() else "")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def per_run(count_for: Callable[[int], int], short: int = 2, long: int = 12) -> float:
    """Instructions per run from two program lengths: (count(long) - count(short)) /
    (long - short); start-up, imports and the first run's lazy work cancel out."""
    a, b = count_for(short), count_for(long)
    return (b - a) / (long - short)
