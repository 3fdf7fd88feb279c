"""Measuring Cortex-M kernels on a board over the serial protocol (`edgemb tune --port`).

Each candidate becomes a one-layer firmware: the normal code generator and build, with
the candidate object as that layer's kernel. It is flashed with the target's method and
timed with the protocol's `invoke` and layer profile (DWT cycles on real boards); its
output is checked against the reference executor before its time counts. Slower than
the QEMU harness (a build and a flash per candidate), but it measures the real chip.
The same runner drives an emulated target's UART (`emulated_connector`) for tests.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, ContextManager

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput, RunnerResult

from edgemobilenet.backends.mcu.build import compile_model
from edgemobilenet.backends.tvm.mcu import harness, kernels, tir_ops
from edgemobilenet.backends.tvm.mcu.runner import CANDIDATE_SYMBOL
from edgemobilenet.backends.tvm.ms_result import Done
from edgemobilenet.backends.tvm.mcu.selection import Selection
from edgemobilenet.device.mcu import Device
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target

Connect = Callable[[Path], ContextManager[Device]]   # build dir -> its firmware, running


class CandidateError(EdgembError):
    """This kernel failed (does not build or link, or computes a wrong output); the board
    and the connection are fine. Any other EdgembError while measuring stops tuning."""


def one_layer_graph(g: QGraph, index: int) -> QGraph:
    """Node `index` of `g` alone: its input and output tensors become the graph's."""
    node = g.nodes[index]
    names = [*node.inputs, *node.outputs]
    return QGraph({t: g.tensors[t] for t in names}, [node], list(node.inputs),
                  list(node.outputs), {**g.meta, "one_layer_of": node.name})


def board_connector(target: Target, port: str, baud: int | None = None,
                    probe: str | None = None, drive: str | None = None) -> Connect:
    """Flash each build (the target's method, or `probe`), then talk to it on `port`."""
    from edgemobilenet.device.flash import flash, plan_flash, read_build
    from edgemobilenet.device.transport import open_device

    if probe is None and target.flash is not None and target.flash.method == "qemu":
        raise EdgembError(f"{target.name} is an emulated board: it is measured in QEMU "
                          f"(--emulate), not over --port")

    @contextlib.contextmanager
    def connect(build: Path) -> Iterator[Device]:
        _, doc = read_build(build)
        flash(plan_flash(build, target, probe, drive), target, doc["model_hash"])
        with open_device(target, port=port, baud=baud, expected_hash=doc["model_hash"]) as d:
            yield d
    return connect


def emulated_connector(target: Target) -> Connect:
    """Boot each build in the target's QEMU machine and talk to it over its UART."""
    from edgemobilenet.device.flash import read_build
    from edgemobilenet.device.transport import open_device

    @contextlib.contextmanager
    def connect(build: Path) -> Iterator[Device]:
        _, doc = read_build(build)
        with open_device(target, elf=build / "firmware.elf",
                         expected_hash=doc["model_hash"]) as d:
            yield d
    return connect


def measure_on_board(target: Target, sub: QGraph, x: np.ndarray, expected: np.ndarray,
                     connect: Connect, work: Path, selection: Selection | None = None,
                     repeat: int = 3,
                     weight_layout: str = "fast") -> tuple[int, str, float]:
    """Build the one-layer graph `sub` (its TVM kernel from `selection`, else the
    hand-written one), run it on the board `repeat` times and return the layer's best
    count, its unit ("cycles", or "instructions" in emulation) and counts per second
    (the clock; 1e9 for instructions, MetaSchedule's convention here). Raises EdgembError
    when the output differs from `expected`."""
    with tempfile.TemporaryDirectory(prefix="emb_board_", dir=work) as tmp:
        build = Path(tmp) / "build"
        try:
            compile_model(sub, target, build, weight_layout=weight_layout,
                          kernels=None if selection is None else lambda *_: selection)
        except EdgembError as e:
            raise CandidateError(f"firmware build failed: {e}") from None
        with connect(build) as dev:
            ticks = []
            for _ in range(repeat):
                dev.set_input(x)
                dev.invoke()
                ticks.append(dev.layer_profile()[0])
            out = dev.get_output().reshape(expected.shape)
            info = dev.info()
    if not np.array_equal(out, expected):
        raise CandidateError(f"output differs from the reference in "
                          f"{int((out != expected).sum())} of {out.size} values")
    cycles = info.clock_unit == "cycles" and info.clock_hz
    return min(ticks), info.clock_unit, float(info.clock_hz) if cycles else 1e9


@derived_object
class BoardRunner(PyRunner):
    """Measure candidates of one layer (`index` of `g`) as one-layer firmware on a board."""

    def __init__(self, target: Target, g: QGraph, index: int, layer: tir_ops.TirLayer,
                 x: np.ndarray, expected: np.ndarray, connect: Connect, work: Path,
                 repeat: int = 3):
        super().__init__()
        self.target, self.sub, self.layer = target, one_layer_graph(g, index), layer
        self.x, self.expected, self.connect = x, expected, connect
        self.work, self.repeat = Path(work), repeat
        self.errors: list[str] = []
        self.unit, self.per_second = "", 1e9   # of the last measurement
        self.fatal: EdgembError | None = None  # the board or link failed: stop tuning

    def measure(self, obj: Path) -> float:
        """Seconds of one verified run of the candidate object."""
        call = kernels.TvmCall(CANDIDATE_SYMBOL,
                               harness.spec_of(self.layer.func, CANDIDATE_SYMBOL),
                               self.layer.args)
        ticks, self.unit, self.per_second = measure_on_board(
            self.target, self.sub, self.x, self.expected, self.connect, self.work,
            Selection(calls={0: call}, objects=[obj]), self.repeat)
        return ticks / self.per_second

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        futures = []
        for inp in runner_inputs:
            obj = Path(inp.artifact_path)
            try:
                if self.fatal:
                    raise self.fatal
                res = RunnerResult([self.measure(obj)], None)
            except CandidateError as e:
                self.errors.append(str(e))
                res = RunnerResult(None, str(e))
            except (EdgembError, OSError) as e:   # MetaSchedule would only log it
                self.fatal = self.fatal or EdgembError(f"measuring on the board: {e}")
                res = RunnerResult(None, str(e))
            finally:
                obj.unlink(missing_ok=True)
            futures.append(Done(res))
        return futures

