"""Per-layer choice between the hand-written kernel and the best tuned TVM kernel.

For each layer whose workload has a record in the tuning database, the tuned kernel is
built, and both it and the hand-written kernel (the target's `kernels` variant) run in
QEMU on the same reference activations; the one with fewer instructions wins. A tuned
kernel whose output differs from the reference is an error (a stale or foreign database).
"""
from __future__ import annotations

from pathlib import Path

from edgemobilenet.backends.mcu import kernel_check
from edgemobilenet.backends.tvm.mcu import harness, kernels
from edgemobilenet.backends.tvm.mcu.board_runner import (CandidateError, Connect,
                                                         measure_on_board, one_layer_graph)
from edgemobilenet.backends.tvm.mcu.tune import (calibration_env, machine_of, open_database,
                                                 tunable_layers)
from edgemobilenet.backends.tvm.mcu.selection import Choice, Selection
from edgemobilenet.backends.tvm.mcu.unpacked_api import mcu_target
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target


def select_kernels(g: QGraph, target: Target, db_dir: Path, work: Path,
                   choice: str = "fastest", connect: Connect | None = None,
                   compact_layers: frozenset[int] = frozenset()) -> Selection:
    """Build the tuned kernels of `g` found in `db_dir` into `work`, measure them and the
    hand-written kernels in QEMU (or, with `connect`, each as one-layer firmware on the
    board), and keep the faster per layer (`choice` "tvm": always the TVM kernel). The
    hand-written kernels run with the build's weight layout (`compact_layers`: packing.py)."""
    if choice not in ("fastest", "tvm"):
        raise EdgembError(f"kernel choice must be 'fastest' or 'tvm', not '{choice}'")
    db_dir = Path(db_dir)
    if not (db_dir / "records.json").is_file():
        raise EdgembError(f"{db_dir}: no tuning database here (run `edgemb tune` first)")
    machine = machine_of(target) if connect is None else ""
    tvm_target = mcu_target(target)
    db = open_database(db_dir)
    env = calibration_env(g)
    work = Path(work).resolve()          # QEMU runs elsewhere: absolute paths
    work.mkdir(parents=True, exist_ok=True)
    tuned: list[tuple[int, kernels.TvmCall, Path]] = []
    cases: list[harness.Case] = []
    for i, layer in tunable_layers(g):
        mod = kernels.layer_module(layer)
        sch = db.query_schedule(mod, tvm_target, "main") if db.has_workload(mod) else None
        if sch is None:
            continue
        obj = work / f"layer_{i}.o"
        call = kernels.build_layer(layer, kernels.symbol_for(i), tvm_target, obj, sch.mod)
        cases.append(kernels.case_for(layer, len(tuned), env, g, g.nodes[i]))
        tuned.append((i, call, obj))
    if not tuned:
        return Selection()
    if connect is not None:
        return _select_on_board(g, target, tuned, env, connect, work, choice, db_dir,
                                compact_layers)
    sel = Selection()
    elf = harness.link(machine, [o for _, _, o in tuned], [c.spec for _, c, _ in tuned],
                       work / "select.elf", work)
    tvm_runs = harness.run(elf, machine, cases, timeout=300)
    variant = target.kernels or "portable"
    driver = kernel_check.build_qemu(variant, machine, work)
    hand_cases = []
    for i, _, _ in tuned:
        node = g.nodes[i]
        hand_cases.append(kernel_check.case_from_node(
            node, [g.tensor(t) for t in node.inputs], g.tensor(node.outputs[0]),
            [env[t] for t in node.inputs], variant, compact=i in compact_layers))
    hand_runs = kernel_check.run(driver, hand_cases, timeout=300)
    for (i, call, obj), (out, n_tvm), hand in zip(tuned, tvm_runs, hand_runs):
        node = g.nodes[i]
        if (out != env[node.outputs[0]]).any():
            raise EdgembError(f"{db_dir}: tuned kernel of layer '{node.name}' differs from "
                              f"the reference; the database does not fit this model")
        _choose(sel, i, call, obj, hand.instructions, n_tvm, choice)
    return sel


def _choose(sel: Selection, i: int, call: kernels.TvmCall, obj: Path, hand: int, tvm: int,
            choice: str, unit: str = "instructions") -> None:
    if choice == "tvm" or tvm < hand:
        sel.calls[i] = call
        sel.objects.append(obj)
        sel.choices[i] = Choice(call.symbol, hand, tvm, unit)
    else:
        sel.choices[i] = Choice("hand", hand, tvm, unit)


def _select_on_board(g: QGraph, target: Target, tuned: list, env: dict, connect: Connect,
                     work: Path, choice: str, db_dir: Path,
                     compact_layers: frozenset[int]) -> Selection:
    """Per tuned layer: its one-layer firmware with each kernel, timed on the board."""
    sel = Selection()
    for i, call, obj in tuned:
        node = g.nodes[i]
        sub, x, want = one_layer_graph(g, i), env[node.inputs[0]], env[node.outputs[0]]
        try:
            tvm, unit, _ = measure_on_board(target, sub, x, want, connect, work,
                                            Selection(calls={0: call}, objects=[obj]))
        except CandidateError as e:
            raise EdgembError(f"{db_dir}: tuned kernel of layer '{node.name}': {e}; the "
                              f"database does not fit this model") from None
        hand, _, _ = measure_on_board(target, sub, x, want, connect, work,
                                      weight_layout="compact" if i in compact_layers
                                      else "fast")
        _choose(sel, i, call, obj, hand, tvm, choice, unit)
    return sel
