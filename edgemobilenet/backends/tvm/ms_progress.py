"""A MetaSchedule measure callback that reports each measured batch (for progress bars)."""
from __future__ import annotations

from typing import Any, Callable

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms

Progress = Callable[[dict[str, Any]], None]


@derived_object
class ReportProgress(ms.measure_callback.PyMeasureCallback):
    """Calls `progress({"done", "total", "failed", "best_ms"})` after every batch."""

    def __init__(self, progress: Progress, total: int) -> None:
        super().__init__()
        self.progress, self.total = progress, total
        self.done = self.failed = 0
        self.best: float | None = None

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results,
              runner_results) -> None:
        for b, r in zip(builder_results, runner_results):
            self.done += 1
            if b.error_msg or r.error_msg or not r.run_secs:
                self.failed += 1
                continue
            secs = min(float(s) for s in r.run_secs)
            self.best = secs if self.best is None else min(self.best, secs)
        self.progress({"done": self.done, "total": self.total, "failed": self.failed,
                       "best_ms": None if self.best is None else self.best * 1e3})


def with_progress(progress: Progress | None, total: int) -> list:
    """MetaSchedule's default callbacks, plus progress reporting when asked for."""
    callbacks = list(ms.measure_callback.MeasureCallback.create("default"))
    return callbacks + [ReportProgress(progress, total)] if progress else callbacks
