"""A MetaSchedule runner future that is already done: runners that measure synchronously
(QEMU instruction counts, boards over serial, the emulated Pi's counter) return these."""
from __future__ import annotations

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunnerFuture, RunnerResult


@derived_object
class Done(PyRunnerFuture):
    def __init__(self, result: RunnerResult):
        super().__init__()
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> RunnerResult:
        return self._result
