"""MetaSchedule builder and runner for Cortex-M kernels measured in QEMU.

`ObjectBuilder` compiles each candidate in process through the unpacked-API pipeline to
an ARM object (no worker pool to start). `QemuRunner` links it into the kernel driver,
runs it under `-icount shift=0` on the layer's reference input, rejects any output that
differs from the numpy reference, and reports instructions as seconds (1 instr = 1 ns).
"""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput, RunnerResult
from tvm.target import Target

from edgemobilenet.backends.tvm.mcu import harness, unpacked_api
from edgemobilenet.backends.tvm.ms_result import Done
from edgemobilenet.errors import EdgembError

CANDIDATE_SYMBOL = "emb_tvm_candidate"


@derived_object
class ObjectBuilder(PyBuilder):
    """Build candidates to `<work>/<uuid>.o` for the Cortex-M target."""

    def __init__(self, target: Target, work: Path):
        super().__init__()
        self.target = target
        self.work = Path(work)
        self.errors: list[str] = []

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        results = []
        for inp in build_inputs:
            out = self.work / f"{uuid.uuid4().hex}.o"
            try:
                unpacked_api.build_object(inp.mod, CANDIDATE_SYMBOL, self.target, out)
                results.append(BuilderResult(str(out), None))
            except Exception as e:  # noqa: BLE001 - a failed candidate, not a failed run
                self.errors.append(f"build failed: {e}")
                results.append(BuilderResult(None, self.errors[-1]))
        return results


@derived_object
class QemuRunner(PyRunner):
    """Measure candidates of one layer in QEMU, verified against the reference output."""

    def __init__(self, machine: str, spec: harness.KernelSpec, blobs: list[np.ndarray],
                 expected: np.ndarray, cache: Path, timeout: float = 60.0):
        super().__init__()
        self.machine, self.spec, self.cache, self.timeout = machine, spec, Path(cache), timeout
        self.case = harness.Case(0, blobs, tuple(expected.shape))
        self.expected = expected
        self.best: int | None = None
        self.errors: list[str] = []

    def measure(self, obj: Path) -> int:
        """Instructions of one verified run of the object (EdgembError if wrong)."""
        with tempfile.TemporaryDirectory(prefix="emb_ms_", dir=self.cache) as tmp:
            elf = harness.link(self.machine, [obj], [self.spec], Path(tmp) / "c.elf",
                               self.cache)
            [(out, instr)] = harness.run(elf, self.machine, [self.case], self.timeout)
        if not np.array_equal(out, self.expected):
            raise EdgembError(f"output differs from the reference in "
                              f"{int((out != self.expected).sum())} of {out.size} values")
        return instr

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        futures = []
        for inp in runner_inputs:
            obj = Path(inp.artifact_path)
            try:
                instr = self.measure(obj)
                self.best = instr if self.best is None else min(self.best, instr)
                res = RunnerResult([instr * 1e-9], None)
            except (EdgembError, OSError) as e:
                self.errors.append(str(e))
                res = RunnerResult(None, str(e))
            finally:
                obj.unlink(missing_ok=True)
            futures.append(Done(res))
        return futures
