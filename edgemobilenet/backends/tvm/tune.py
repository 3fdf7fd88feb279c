"""MetaSchedule tuning of a QGraph's kernels; the database (a directory) is kept and reused.

Candidates are measured in-process on this machine (`local`, host targets), on a board's
RPC server (`rpc`), on a board registered with an RPC tracker (`tracker`, e.g. an
emulated or real Pi), or by instruction count on the target's emulated core (`emulate`). Cross targets are built with the target's cross compiler.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import local_builder
from tvm.support.popen_pool import PopenWorker

from edgemobilenet.backends.tvm import default_schedules, knob_space, tvm_compat
from edgemobilenet.backends.tvm.bounded_runner import BoundedRPCRunner
from edgemobilenet.backends.tvm.build import (build_candidate, lower, shared_library_compiler,
                                              tvm_target)
from edgemobilenet.backends.tvm.kernel_args import KernelArgs
from edgemobilenet.backends.tvm.linux_target import LinuxTarget
from edgemobilenet.backends.tvm.ms_database import MODULE_EQUALITY, attempted, open_database
from edgemobilenet.backends.tvm.ms_logging import quiet_metaschedule
from edgemobilenet.backends.tvm.ms_progress import Progress, with_progress
from edgemobilenet.device.rpc import connect, parse_hostport, wait_for_board
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph

SPACES = ("knobs", "metaschedule")
BUILDS_PER_WORKER = 64
BUILD_TIMEOUT_S = 300.0   # one candidate's build and export (seconds when all is well)
WORKER_START_TIMEOUT_S = 900.0
CANDIDATE_PREFIX = "edgemb-ms-"   # an exported candidate's directory (MetaSchedule removes it)


def export_aarch64(mod: tvm.runtime.Module) -> str:
    """The build worker's export step: cross-compile a candidate for an aarch64 board."""
    path = os.path.join(tempfile.mkdtemp(prefix=CANDIDATE_PREFIX), "candidate.so")
    mod.export_library(path, fcompile=shared_library_compiler("aarch64-linux-gnu-gcc"))
    return path


def _warm_up() -> None:
    """In a new build worker: the imports a build needs, so that a build's time limit is the
    build's. `default_build` imports TVM's tensor intrinsics package, whose `__init__` takes
    25 s of CPU; candidates arrive tensorized, so the lean package stands in for it."""
    tvm_compat.lean_tensor_intrin_package()
    import tvm.s_tir.tensor_intrin  # noqa: F401  pylint: disable=unused-import


def _build_and_export(f_export, mod: tvm.IRModule, target: tvm.target.Target) -> str:
    """In the build worker: one candidate built under `pass_context` and exported."""
    return (f_export or local_builder.default_export)(build_candidate(mod, target))


@derived_object
class WorkerBuilder(ms.builder.PyBuilder):
    """Builds candidates one by one in a worker process kept across batches, each within
    `timeout_sec`: a build past it fails its candidate and the worker is replaced (one LLVM
    build of an aarch64 candidate has run for over 20 minutes). `LocalBuilder` starts a pool
    per batch, whose workers each import TVM: that dominates small per-task budgets on a
    busy 2-core machine. `args` learns which library came from which candidate (the emulated
    runner's arguments). Call `close` when tuning ends.
    """

    def __init__(self, f_export=None, args: KernelArgs | None = None,
                 timeout_sec: float = BUILD_TIMEOUT_S) -> None:
        super().__init__()
        self.f_export, self.args, self.timeout_sec = f_export, args, timeout_sec
        self.worker: PopenWorker | None = None
        self.builds = 0

    def _call(self, fn, args: tuple, timeout: float):
        """`fn(*args)` in the worker, started and warmed up first if needed (a worker serves
        BUILDS_PER_WORKER builds: TVM's popen workers leak over many)."""
        if self.worker is None or self.builds >= BUILDS_PER_WORKER:
            self.close()
            self.worker = PopenWorker()
            self.worker.send(_warm_up, timeout=WORKER_START_TIMEOUT_S)
            self.worker.recv()
        self.builds += 1
        self.worker.send(fn, args, timeout=timeout)
        return self.worker.recv()

    def build(self, build_inputs: list) -> list:
        results = []
        for bi in build_inputs:
            try:
                lib = self._call(_build_and_export, (self.f_export, bi.mod, bi.target),
                                 self.timeout_sec)
                if self.args is not None:
                    self.args.built(bi.mod, lib)
                results.append(ms.builder.BuilderResult(lib, None))
            except TimeoutError:
                self.close()
                results.append(ms.builder.BuilderResult(
                    None, f"build stopped after {self.timeout_sec:.0f} s"))
            except Exception as e:  # a bad candidate is a result, not a crash
                results.append(ms.builder.BuilderResult(None, f"build failed: {e}"))
        return results

    def close(self) -> None:
        """Stop the build worker."""
        if self.worker is not None:
            self.worker.kill()
            self.worker, self.builds = None, 0


def tune(g: QGraph, target: LinuxTarget, db_dir: str | os.PathLike, trials: int, *,
         tracker: str | None = None, key: str | None = None, local: bool = False,
         rpc: str | None = None, emulate: bool = False,
         trials_per_task: int | None = None, max_tasks: int | None = None,
         timeout_sec: float = 300, strategy: str = "evolutionary",
         space: str = "knobs",
         progress: Progress | None = None) -> dict[str, Any]:
    """Tune up to `trials` candidates over the graph's kernels into `db_dir`.

    `space` "knobs" searches our default schedules' knobs (`knob_space`), "metaschedule"
    MetaSchedule's own space with `strategy`.
    `max_tasks` keeps only the first N kernels (smoke tests). `strategy` is MetaSchedule's
    search strategy: "evolutionary" (cost model) or "replay-trace" (random samples of the
    design space: cheaper per trial, for small budgets). Candidates are built in one worker
    process (`WorkerBuilder`), each within `BUILD_TIMEOUT_S`; `timeout_sec` limits a run.
    Resumable: records already in `db_dir` count toward `trials` and each task's budget,
    so running again with the same budget measures nothing new. `progress` gets a dict
    after each measured batch (see `ms_progress`). Returns a summary dict.
    """
    if space not in SPACES:
        raise EdgembError(f"tune: space '{space}' is not one of {', '.join(SPACES)}")
    if trials < 1:
        raise EdgembError(f"tune: --trials must be >= 1, got {trials}")
    if sum(map(bool, (local, tracker, rpc, emulate))) != 1:
        raise EdgembError("tune: measure on exactly one of --local (this machine), --rpc "
                          "HOST:PORT (a board's RPC server), --tracker HOST:PORT or "
                          "--emulate (instruction counts on the emulated core)")
    if local and not target.is_host:
        raise EdgembError(f"tune: target '{target.name}' is cross-compiled; --local can only "
                          f"measure host targets (use --rpc or --tracker with a board)")
    if emulate:   # cost = instructions on the target's emulated core (icount_runner)
        if target.is_host or not target.qemu_cpu:
            raise EdgembError(f"tune: target '{target.name}' has no emulated core ([qemu] cpu)")
    elif local:
        runner = ms.runner.LocalRunner(timeout_sec=timeout_sec)
    elif rpc:
        host, port = parse_hostport(rpc, "rpc server")
        connect(rpc=rpc)   # fails now, with the reason, if nothing serves there
        runner = BoundedRPCRunner(
            ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key="direct",
                                session_timeout_sec=int(timeout_sec)),
            ms.runner.EvaluatorConfig(number=3, repeat=1), timeout_sec=timeout_sec,
            direct=True)
    else:
        host, port = parse_hostport(tracker, "tracker")
        key = key or target.rpc_key
        wait_for_board(host, port, key)
        runner = BoundedRPCRunner(
            ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=key,
                                session_timeout_sec=int(timeout_sec)),
            ms.runner.EvaluatorConfig(number=3, repeat=1), timeout_sec=timeout_sec)
    tgt = tvm_target(target.tvm_target)
    mod = lower(g, target.tvm_target, schedule=False)   # registers the VNNI intrinsic if needed
    tasks = [t for t in ms.relax_integration.extract_tasks(mod, tgt,
                                                           module_equality=MODULE_EQUALITY)
             if not default_schedules.hand_written(t.dispatched[0]["main"])]   # nothing to tune
    if space == "knobs":   # only kernels whose schedule has a choice to make
        ks = knob_space.for_module(target.tvm_target, mod)
        tasks = [t for t in tasks if len(ks.choices(t.dispatched[0]["main"])) > 1]
    if max_tasks:
        tasks = sorted(tasks, key=lambda t: t.task_name)[:max_tasks]
    args = None
    if emulate:   # candidates count on their kernel's constants from `mod` (kernel_args)
        from edgemobilenet.backends.tvm.icount_runner import EmulatedInsnRunner
        args = KernelArgs(mod, [t.task_name for t in tasks])
        runner = EmulatedInsnRunner(target.qemu_cpu, timeout_sec=timeout_sec, args=args)
    f_export = None if target.is_host else export_aarch64
    builder = WorkerBuilder(f_export, args)
    per_task = trials_per_task or trials
    db = open_database(db_dir)
    done = {t.task_name: attempted(db, t.dispatched[0]) for t in tasks}
    todo = [t for t in tasks if done[t.task_name] < per_task]
    budget = trials - sum(done.values())
    if todo and budget > 0:   # a resumed run adds only the candidates still missing
        per_todo = max(per_task - done[t.task_name] for t in todo)
        if space == "knobs":
            # round-robin: a run with 4x the budget continues where the smaller one stopped
            gen, strat, batch, cost, sched = (knob_space.space(ks), knob_space.KnobSweep(ks, args), 4,
                                              "random", "round-robin")
        else:
            gen, strat, batch, cost, sched = "post-order-apply", strategy, 16, "xgb", "gradient"
        with quiet_metaschedule(), _closing(runner, builder):
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                todo, work_dir=str(db_dir), space=gen, strategy=strat)
            ms.tune.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=str(db_dir),
                max_trials_global=budget, max_trials_per_task=per_todo,
                num_trials_per_iter=min(per_todo, batch), builder=builder, runner=runner,
                database=db, module_equality=MODULE_EQUALITY, cost_model=cost,
                task_scheduler=sched,
                measure_callbacks=with_progress(progress, min(budget, per_todo * len(todo))))
    records = db.get_all_tuning_records()
    measured = [r for r in records if r.run_secs and min(float(s) for s in r.run_secs) < 1e9]
    return {"target": target.name, "tasks": [t.task_name for t in tasks],
            "trials": trials, "records": len(records), "measured": len(measured),
            "new_records": len(records) - sum(done.values()),
            "db": str(db_dir)}


@contextlib.contextmanager
def _closing(runner, builder: WorkerBuilder):
    """Stop the build worker and a runner's own worker (the emulated core) and its files
    when tuning ends, on every path."""
    try:
        yield
    finally:
        builder.close()
        if hasattr(runner, "close"):
            runner.close()
