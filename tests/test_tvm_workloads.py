"""Kernels depend on shapes only: the same architecture calibrated twice (every zero point,
clamp bound, multiplier and shift differs) lowers to structurally identical kernels, and a
tuning database written for the first calibration serves every kernel of the second (no
task misses) and stays bit-exact. Hand-written kernels (`default_schedules.hand_written`:
x86 VNNI's and aarch64's depthwise), which no database tunes, are specialised to their
constants and left aside."""
from __future__ import annotations

import numpy as np
import tvm
import tvm_ffi
from qgraph_builders import GraphBuilder, sample_input
from tvm.s_tir import meta_schedule as ms

from edgemobilenet.backends.tvm.default_schedules import hand_written
from edgemobilenet.backends.tvm.build import compile_module, host_target, lower, run_local, \
    tvm_target
from edgemobilenet.backends.tvm.ms_database import apply_databases, open_database
from edgemobilenet.quant import reference
from edgemobilenet.backends.tvm import tvm_compat


def _every_op(scale: float, zero_point: int):
    """One graph with every QGraph op; the same weights for every input calibration."""
    b = GraphBuilder(np.random.default_rng(5), (1, 8, 8, 8), scale, zero_point)
    x = b.conv2d("input", 16, kernel=3, act="relu6")
    d = b.conv2d(x, 16, kernel=3, groups=16, act="relu6")
    p = b.conv2d(d, 8, kernel=1)
    a = b.add("input", p)
    se = b.lut(b.avg_pool(a), "hardsigmoid")
    m = b.mul(a, se)
    c = b.concat([m, a], like=m)
    r = b.avg_pool(b.resize_bilinear(c, (12, 12)), kernel=[3, 3], stride=3)
    f = b.fully_connected(b.reshape(r, (1, 4 * 4 * 16)), 10)
    return b.build(b.softmax(f))


def _kernels(mod: tvm.IRModule) -> list[tvm.tirx.PrimFunc]:
    return [f for f in mod.functions.values() if isinstance(f, tvm.tirx.PrimFunc)
            and not hand_written(f)]


def test_recalibrated_model_shares_every_kernel_and_database_record(tmp_path):
    ga, gb = _every_op(0.05, -10), _every_op(0.02, 7)
    assert ga.digest() != gb.digest()
    assert ga.nodes[0].params["multiplier"].tolist() != gb.nodes[0].params["multiplier"].tolist()
    target = host_target()
    tgt = tvm_target(target)
    ka, kb = _kernels(lower(ga, target, schedule=False)), \
        _kernels(lower(gb, target, schedule=False))
    hashes = sorted(tvm_ffi.structural_hash(f) for f in ka)
    assert len(ka) >= 8 and hashes == sorted(tvm_ffi.structural_hash(f) for f in kb)

    # a database holding one schedule per kernel of the first calibration (a block
    # annotation: a record needs one schedule instruction to count as valid)
    db = open_database(tmp_path / "db")
    for f in ka:
        mod = tvm_compat.normalize_mod(f)
        sch = tvm.s_tir.Schedule(mod)
        sch.annotate(sch.get_child_blocks(sch.get_sblock("root"))[0], "edgemb.test", 1)
        rec = ms.database.TuningRecord(sch.trace, db.commit_workload(mod), [1e-3], tgt)
        db.commit_tuning_record(rec)
    tuned, applied = apply_databases(lower(gb, target, schedule=False), tgt,
                                     [("db", tmp_path / "db")])
    assert not applied.notes
    missing = [f for f in _kernels(tuned) if not f.attrs.get("tirx.is_scheduled", False)]
    assert not missing, f"{len(missing)} of {len(kb)} kernels missed the database"
    ex = compile_module(tuned, target)
    x = sample_input(gb, np.random.default_rng(1))
    want = reference.run(gb, x)[gb.outputs[0]]
    np.testing.assert_array_equal(run_local(ex, gb, x)[gb.outputs[0]], want)
