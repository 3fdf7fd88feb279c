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

from edgemobilenet.backends.tvm import default_schedules, knob_space
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
CANDIDATE_PREFIX = "edgemb-ms-"   # an exported candidate's directory (MetaSchedule removes it)


def export_aarch64(mod: tvm.runtime.Module) -> str:
    """LocalBuilder export hook: cross-compile a candidate for an aarch64 board."""
    path = os.path.join(tempfile.mkdtemp(prefix=CANDIDATE_PREFIX), "candidate.so")
    mod.export_library(path, fcompile=shared_library_compiler("aarch64-linux-gnu-gcc"))
    return path


@derived_object
class InProcessBuilder(ms.builder.PyBuilder):
    """Builds candidates one by one in this process (no timeout).

    `LocalBuilder` starts a fresh worker pool (each worker imports TVM) for every batch,
    which dominates small per-task budgets on a busy 2-core machine. `args` learns which
    library came from which candidate (the emulated runner's arguments).
    """

    def __init__(self, f_export=None, args: KernelArgs | None = None):
        super().__init__()
        self.f_export = f_export or local_builder.default_export
        self.args = args

    def build(self, build_inputs: list) -> list:
        results = []
        for bi in build_inputs:
            try:
                lib = self.f_export(build_candidate(bi.mod, bi.target))
                if self.args is not None:
                    self.args.built(bi.mod, lib)
                results.append(ms.builder.BuilderResult(lib, None))
            except Exception as e:  # a bad candidate is a result, not a crash
                results.append(ms.builder.BuilderResult(None, f"InProcessBuilder: {e}"))
        return results


def tune(g: QGraph, target: LinuxTarget, db_dir: str | os.PathLike, trials: int, *,
         tracker: str | None = None, key: str | None = None, local: bool = False,
         rpc: str | None = None, emulate: bool = False,
         trials_per_task: int | None = None, max_tasks: int | None = None,
         timeout_sec: float = 300, strategy: str = "evolutionary",
         in_process_build: bool = False, space: str = "knobs",
         progress: Progress | None = None) -> dict[str, Any]:
    """Tune up to `trials` candidates over the graph's kernels into `db_dir`.

    `space` "knobs" searches our default schedules' knobs (`knob_space`: candidates built in
    this process), "metaschedule" MetaSchedule's own space with `strategy`.
    `max_tasks` keeps only the first N kernels (smoke tests). `strategy` is MetaSchedule's
    search strategy: "evolutionary" (cost model) or "replay-trace" (random samples of the
    design space: cheaper per trial, for small budgets). `in_process_build` compiles
    candidates in this process: no worker pool per batch, but no build timeout either.
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
    builder = (InProcessBuilder(f_export, args) if in_process_build or space == "knobs"
               else ms.builder.LocalBuilder(timeout_sec=timeout_sec, f_build=build_candidate,
                                            f_export=f_export))
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
        with quiet_metaschedule(), _closing(runner):
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
def _closing(runner):
    """Stop a runner's own worker (the emulated core) and its files when tuning ends, on
    every path."""
    try:
        yield
    finally:
        if hasattr(runner, "close"):
            runner.close()
