"""`tune_mcu`: MetaSchedule over a QGraph's conv / FC layers for a Cortex-M target, each
candidate measured in QEMU and checked bit-exact against the reference executor.

The database (`workloads.json` + `records.json`, MetaSchedule's JSON format) lives in
`db_dir` and is resumable: a layer whose workload already has `trials` records (failed
candidates count) is skipped, one with fewer gets the rest. Identical layers share one workload. Records are
keyed by the PrimFunc's structure, which holds shapes and zero points but not the
weights, so `select.py` can reuse them for any model with the same layers.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import tvm
import tvm_ffi
from tvm.s_tir import meta_schedule as ms
from tvm.target import Target

from edgemobilenet.backends.tvm import tvm_compat
from edgemobilenet.backends.tvm.mcu import harness, intrin, kernels, rules, tir_ops
from edgemobilenet.backends.tvm.mcu import runner as ms_runner
from edgemobilenet.backends.tvm.mcu.board_runner import BoardRunner, Connect
from edgemobilenet.backends.tvm.ms_database import attempted
from edgemobilenet.backends.tvm.ms_logging import quiet_metaschedule
from edgemobilenet.backends.tvm.mcu.unpacked_api import mcu_target
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import reference
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target as BoardTarget

TUNED_KINDS = ("pointwise", "conv", "depthwise", "fully_connected")
Progress = Callable[[dict[str, Any]], None]


def open_database(db_dir: Path) -> ms.database.JSONDatabase:
    db_dir = Path(db_dir)
    db_dir.mkdir(parents=True, exist_ok=True)
    return ms.database.JSONDatabase(str(db_dir / "workloads.json"),
                                    str(db_dir / "records.json"), module_equality="structural")


def machine_of(target: BoardTarget) -> str:
    if target.kind != "mcu" or target.qemu is None:
        raise EdgembError(f"{target.path.name}: TVM tuning for Cortex-M measures in QEMU; "
                          f"target '{target.name}' has no [qemu] machine")
    return target.qemu.machine


def calibration_env(g: QGraph, seed: int = 0) -> dict[str, np.ndarray]:
    """Every tensor of a reference run on a fixed random input (the measuring data)."""
    x = np.random.default_rng(seed).integers(-128, 128, g.tensor(g.inputs[0]).shape,
                                             dtype=np.int8)
    return reference.run(g, x, keep_all=True)


@dataclass
class Task:
    """One distinct workload: the first layer that has it and every layer sharing it."""

    index: int
    layer: tir_ops.TirLayer
    layers: list[int]


def tunable_layers(g: QGraph) -> Iterator[tuple[int, Any]]:
    """(node index, lowered layer) of every layer of `g` that tuning covers."""
    for i, node in enumerate(g.nodes):
        if tir_ops.supported(g, node):
            layer = tir_ops.lower(g, node)
            if layer.kind in TUNED_KINDS:
                yield i, layer


def tasks(g: QGraph) -> list[Task]:
    """Distinct tunable workloads of `g` in layer order."""
    seen: dict[int, Task] = {}
    for i, layer in tunable_layers(g):
        key = tvm_ffi.structural_hash(kernels.layer_module(layer))
        if key in seen:
            seen[key].layers.append(i)
        else:
            seen[key] = Task(i, layer, [i])
    return list(seen.values())


def measured(db: ms.database.Database, mod: tvm.IRModule, limit: int) -> int:
    """Valid (measured and bit-exact) records of `mod`, at most `limit`."""
    if not db.has_workload(mod):
        return 0
    return len(db.get_top_k(db.commit_workload(mod), limit))


def tune_mcu(g: QGraph, target: BoardTarget, db_dir: Path, trials: int,
             progress: Progress | None = None, *, cost_model: str = "xgb",
             strategy: str = "evolutionary", seed: int = 0,
             connect: Connect | None = None) -> dict[str, Any]:
    """Tune every distinct conv / FC workload of `g` for `trials` candidates (a failed
    candidate counts: a resumed run only adds the missing ones).

    `progress` gets a dict per finished task (`task`, `of`, `layer`, `best_seconds` and
    `best_instructions` (QEMU) or `best_cycles` (a real board), `trials`, `seconds`).
    Returns a summary with one entry per task. `strategy` is
    "evolutionary" (cost-model guided, for real budgets) or "replay-trace" (random
    samples of the space: cheapest per trial, for tiny runs). Candidates run in the
    target's QEMU machine, or with `connect` (see `board_runner`) as one-layer firmware on
    a board over the serial protocol."""
    if trials < 1:
        raise EdgembError(f"tune: trials must be >= 1, got {trials}")
    machine = machine_of(target) if connect is None else ""
    tvm_target = mcu_target(target)
    db_dir = Path(db_dir).resolve()
    db = open_database(db_dir)
    env = calibration_env(g)
    todo = tasks(g)
    summary: list[dict[str, Any]] = []
    t_all = time.monotonic()
    cache = db_dir / "cache"
    cache.mkdir(exist_ok=True)
    for n, task in enumerate(todo):
        node = g.nodes[task.index]
        mod = kernels.layer_module(task.layer)
        have = attempted(db, mod)
        t0 = time.monotonic()
        errors: list[str] = []
        unit, per_second = "instructions", 1e9   # the QEMU harness's convention
        if have < trials:
            runner = (_qemu_runner(g, task, machine, env, cache) if connect is None else
                      BoardRunner(target, g, task.index, task.layer, env[node.inputs[0]],
                                  env[node.outputs[0]], connect, cache))
            errors = _tune_task(task, tvm_target, runner, db, trials - have, cache,
                                cost_model, _strategy(strategy, trials), seed)
            if connect is not None:
                if runner.fatal:
                    raise runner.fatal
                unit, per_second = runner.unit or unit, runner.per_second
        best = db.get_top_k(db.commit_workload(mod), 1) if db.has_workload(mod) else []
        secs = [float(s) for s in best[0].run_secs] if best and best[0].run_secs else []
        entry = {"task": n, "of": len(todo), "layer": node.name, "kind": task.layer.kind,
                 "layers": [g.nodes[i].name for i in task.layers], "macs": task.layer.macs,
                 "trials": measured(db, mod, 1 << 30), "new_trials": max(trials - have, 0),
                 "best_seconds": min(secs) if secs else None,
                 f"best_{unit}": round(min(secs) * per_second) if secs else None,
                 "failed_trials": len(errors), "first_error": errors[0][:300] if errors else None,
                 "seconds": round(time.monotonic() - t0, 1)}
        summary.append(entry)
        if progress:
            progress(entry)
    return {"target": target.name, "machine": machine, "db_dir": str(db_dir),
            "trials_per_task": trials, "tasks": summary,
            "seconds": round(time.monotonic() - t_all, 1)}


def _strategy(name: str, trials: int):
    if name == "replay-trace":
        return ms.search_strategy.ReplayTrace()
    if name == "evolutionary":   # a population sized to the budget (512 costs minutes)
        return ms.search_strategy.EvolutionarySearch(
            population_size=min(512, max(64, 4 * trials)), init_min_unmeasured=16,
            genetic_num_iters=2)
    raise EdgembError(f"tune: unknown search strategy '{name}'")


def _qemu_runner(g: QGraph, task: Task, machine: str, env: dict[str, np.ndarray],
                 cache: Path) -> ms_runner.QemuRunner:
    """The kernel harness in QEMU, on the layer's activations of the calibration run."""
    layer = task.layer
    blobs = [env[a] if isinstance(a, str) else a for a in layer.args[:-1]]
    spec = harness.spec_of(layer.func, ms_runner.CANDIDATE_SYMBOL)
    return ms_runner.QemuRunner(machine, spec, blobs, env[g.nodes[task.index].outputs[0]],
                                cache)


def _tune_task(task: Task, tvm_target: Target, runner, db: ms.database.Database,
               trials: int, cache: Path, cost_model: str, strategy, seed: int) -> list[str]:
    """Run MetaSchedule on one task; return the errors of failed candidates."""
    layer = task.layer
    names = intrin.for_layer(tvm_target, layer)
    tvm_compat.lean_tensor_intrin_package()
    with tempfile.TemporaryDirectory(prefix="emb_tune_", dir=cache) as work, \
            quiet_metaschedule():
        builder = ms_runner.ObjectBuilder(tvm_target, Path(work))
        ms.tir_integration.tune_tir(
            kernels.layer_module(layer), tvm_target, work_dir=str(Path(work) / "logs"),
            max_trials_global=trials, num_trials_per_iter=min(trials, 16), builder=builder,
            runner=runner, database=db, cost_model=cost_model,
            measure_callbacks=[ms.measure_callback.AddToDatabase(),
                               ms.measure_callback.UpdateCostModel()],
            task_scheduler="round-robin", space=rules.space(tvm_target, names),
            strategy=strategy,
            num_tuning_cores=1, seed=seed)
        shutil.rmtree(Path(work) / "logs", ignore_errors=True)
    return builder.errors + runner.errors
