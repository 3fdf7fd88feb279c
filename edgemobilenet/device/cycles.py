"""Estimated Cortex-M4 / M7 cycles in emulation: QEMU counts instructions exactly but does
not model time, so `qemu_plugins/cm_cycles.c` classifies every executed instruction and
applies a per-class cycle table from the cores' Technical Reference Manuals (documented, with
its assumptions, in qemu_plugins/CORTEX_M_CYCLES.md). The result is an **estimate** with a
low-high range, never a measurement; instruction counts stay the exact figure.

The plugin reports at every execution of the firmware's clock read (`board_clock`): an
`invoke` reads the clock before the run, once before the first layer, after every layer and
after the run, so one run gives layers + 3 reports; the differences are the run's and each
layer's estimates.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from edgemobilenet.device.insn_count import plugin_path
from edgemobilenet import child
from edgemobilenet.errors import EdgembError

PLUGIN = "cm_cycles"
MARK_SYMBOL = "board_clock"


@dataclass(frozen=True)
class Snapshot:
    """The plugin's counters at one report."""

    instructions: int
    est: int
    low: int
    high: int
    taken: int
    classes: tuple[int, ...]

    def __sub__(self, o: Snapshot) -> Snapshot:
        return Snapshot(self.instructions - o.instructions, self.est - o.est, self.low - o.low,
                        self.high - o.high, self.taken - o.taken,
                        tuple(a - b for a, b in zip(self.classes, o.classes)))


def symbol_address(elf: Path, name: str = MARK_SYMBOL) -> int:
    """Address of a function in the firmware ELF (arm-none-eabi-nm)."""
    nm = shutil.which("arm-none-eabi-nm")
    if not nm:
        raise EdgembError("cycle estimates need arm-none-eabi-nm (Debian package "
                          "binutils-arm-none-eabi)")
    r = child.run([nm, str(elf)], str(elf), child.TOOL_TIMEOUT_S)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise EdgembError(f"{elf}: no symbol '{name}' (needed to place the cycle estimates)")


def qemu_args(table: str, out: Path, mark: int | None) -> list[str]:
    """`-plugin` arguments for qemu-system-arm: estimates with the plugin's cycle `table`
    (a target's `qemu.cycle_table`) written to `out`."""
    arg = f"{plugin_path(PLUGIN)},out={out},cpu={table}"
    return ["-plugin", arg + (f",mark={mark:#x}" if mark is not None else "")]


class CycleLog:
    """Reads the plugin's output file incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.pos = 0
        self.classes: list[str] = []

    def read(self) -> tuple[list[Snapshot], Snapshot | None]:
        """(new mark reports, the exit report if QEMU has exited) since the last read."""
        if not self.path.exists():
            return [], None
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n") + 1          # complete lines only
        self.pos += end
        marks, exit_ = [], None
        for line in data[:end].decode().splitlines():
            kind, *vals = line.split()
            if kind == "classes":
                self.classes = vals
                continue
            n = [int(v) for v in vals]
            snap = Snapshot(n[0], n[1], n[2], n[3], n[4], tuple(n[5:]))
            if kind == "mark":
                marks.append(snap)
            elif kind == "exit":
                exit_ = snap
        return marks, exit_


@dataclass
class RunEstimate:
    """One invoke: the whole run and each layer, cycles (estimate, low, high)."""

    total: Snapshot
    layers: list[Snapshot]


def split_run(marks: list[Snapshot], n_layers: int) -> RunEstimate:
    """The reports of one invoke (n_layers + 3) -> its estimates."""
    if len(marks) != n_layers + 3:
        raise EdgembError(f"cycle estimate: {len(marks)} clock reads in a run of {n_layers} "
                          f"layers, expected {n_layers + 3}")
    return RunEstimate(marks[-1] - marks[0],
                       [marks[i + 2] - marks[i + 1] for i in range(n_layers)])
