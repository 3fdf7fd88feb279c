"""A Linux board (Raspberry Pi) over TVM RPC as the bench's `Runner`: the build's `.so`
uploaded and run with the Relax VM, each run timed on the board with `time_evaluator`.

Emulated or not: when the bench starts the emulated board itself (`--emulate`) it knows. For
a board reached with `--rpc`/`--tracker` it asks the board which CPU LLVM detects there: a
real Pi 4 answers `cortex-a72`, the emulated one `generic` (qemu-user shows the host's
/proc/cpuinfo). The figures are labelled with what is known, never guessed.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgemobilenet.device.rpc import RemoteModel, connect, load_build

EMULATED_LABEL = "ms, emulated: emulation speed, not Pi speed"


def board_cpu(session: Any) -> str | None:
    """The CPU name LLVM detects on the board (None if its TVM has no LLVM)."""
    try:
        return str(session.get_function("target.llvm_get_system_cpu")())
    except Exception:  # a runtime-only TVM on the board: the function does not exist
        return None


def latency_label(target: str, target_cpu: str | None, emulated: bool,
                  cpu: str | None) -> tuple[str, bool | None]:
    """(unit label, emulated) for times measured on a board."""
    if emulated:
        return EMULATED_LABEL, True
    if cpu is None or not target_cpu:
        return "ms on the RPC server (its CPU is unknown)", None
    if cpu == target_cpu:
        return f"ms on the board ({cpu})", False
    return (f"ms on the RPC server, whose CPU is '{cpu}', not {target_cpu}: emulated or "
            f"another board, not {target} speed"), None


class RpcRunner:
    """One build loaded on one board; `run` returns (output, nanoseconds on the board)."""

    unit = "ns"
    ms_per_tick = 1e-6
    has_layer_outputs = False  # the Relax VM returns only the model's outputs

    def __init__(self, model: RemoteModel, transport: str, unit_label: str,
                 emulated: bool | None, cpu: str | None) -> None:
        self.model = model
        self.transport = transport
        self.unit_label = unit_label
        self.latency_info = {"emulated": emulated, "board_cpu": cpu}

    def _output(self, x: np.ndarray) -> np.ndarray:
        """The first output for one input (without its batch axis)."""
        return next(iter(self.model.run(np.ascontiguousarray(x[None])).values()))

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        y = self._output(x)  # also leaves x as the VM's input for the timed run
        secs = self.model.time(number=1, repeat=1)[0]
        return y, int(round(secs * 1e9))

    def layer_profile(self) -> list[int] | None:
        """Nanoseconds per kernel (all its calls) of one inference, each kernel timed alone
        on the board (the manifest's `kernels`; None for builds without a kernel table)."""
        if not self.model.kernels:
            return None
        secs = self.model.kernel_seconds()
        return [int(round(s * k["calls"] * 1e9)) for s, k in zip(secs, self.model.kernels)]

    def outputs(self, xs: np.ndarray, progress: Callable[[int], None] | None = None
                ) -> np.ndarray:
        out = []
        for i in range(len(xs)):
            out.append(self._output(xs[i]).reshape(-1))
            if progress:
                progress(i + 1)
        return np.stack(out) if out else np.zeros((0, 0), np.int8)

    def layer_output(self, x: np.ndarray, layer: int) -> np.ndarray:
        raise NotImplementedError("TVM RPC boards expose only the model's outputs")

    def stack_high_water(self) -> None:
        return None


class LinuxBoard(Protocol):
    """The facts of a Linux target that running on it needs (backends/tvm/linux_target.py
    reads them from the target file; the caller hands them over)."""

    name: str
    tvm_target: dict[str, Any]
    qemu_cpu: str | None
    threads: int


@contextlib.contextmanager
def open_rpc_runner(build_dir: str | Path, lt: LinuxBoard, *, rpc: str | None = None,
                    tracker: str | None = None, key: str | None = None,
                    emulate: bool = False, progress: Callable[[str], None] | None = None
                    ) -> Iterator[RpcRunner]:
    """The build on board `lt`: `rpc` HOST:PORT, `tracker` HOST:PORT + `key`, or
    (`emulate`) an emulated board started here and stopped when the block ends."""
    from edgemobilenet.errors import EdgembError

    target_cpu = lt.tvm_target.get("mcpu")
    with contextlib.ExitStack() as stack:
        if emulate:
            from edgemobilenet.device import pi_emulator

            if not lt.qemu_cpu:
                raise EdgembError(f"target '{lt.name}': no [qemu] table, it cannot be emulated")
            say = progress or (lambda _msg: None)
            if not (pi_emulator.root_dir() / pi_emulator.STAMP).is_file():
                say("preparing the emulated Pi's aarch64 root (once, about 1-2 min)")
                pi_emulator.prepare_root(progress)
            say(f"starting the emulated {lt.name} (import tvm under qemu-aarch64, about 20-30 s)")
            board = stack.enter_context(pi_emulator.start_board(
                lt.qemu_cpu, threads=min(lt.threads, os.cpu_count() or 1), progress=progress))
            rpc = f"{board.host}:{board.port}"
            transport = (f"emulated {lt.name} (TVM RPC server under qemu-aarch64 -cpu "
                         f"{lt.qemu_cpu})")
        else:
            transport = f"TVM RPC tracker {tracker}, key '{key}'" if tracker else \
                f"TVM RPC server {rpc}"
        session = connect(rpc=None if tracker else rpc, tracker=tracker, key=key)
        cpu = lt.qemu_cpu if emulate else board_cpu(session)
        label, emulated = latency_label(lt.name, target_cpu, emulate, cpu)
        yield RpcRunner(load_build(session, build_dir), transport, label, emulated, cpu)
