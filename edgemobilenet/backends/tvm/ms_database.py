"""The Linux MetaSchedule database on disk: opening it, applying it to a module, and
counting what it already holds, so a resumed tuning run only adds the candidates still
missing (`attempted`, both tuners: Cortex-M and Linux)."""
from __future__ import annotations

import os
from pathlib import Path

import tvm
import tvm_ffi
from tvm import relax
from tvm.s_tir import meta_schedule as ms

from edgemobilenet.errors import EdgembError

MODULE_EQUALITY = "anchor-block"   # kernels with the same anchor (conv shape) share records


def open_database(db_dir: str | os.PathLike) -> ms.database.JSONDatabase:
    db_dir = Path(db_dir)
    db_dir.mkdir(parents=True, exist_ok=True)
    return ms.database.JSONDatabase(work_dir=str(db_dir), module_equality=MODULE_EQUALITY)


def apply_database(mod: tvm.IRModule, target: tvm.target.Target,
                   db_dir: str | os.PathLike) -> tvm.IRModule:
    """Replace kernels with their best tuned schedules from `db_dir` (others unchanged)."""
    if not Path(db_dir, "database_tuning_record.json").is_file():
        raise EdgembError(f"{db_dir}: not a tuning database (no database_tuning_record.json)")
    with target, open_database(db_dir):
        return relax.transform.MetaScheduleApplyDatabase()(mod)


def attempted(db: ms.database.Database, mod: tvm.IRModule) -> int:
    """Every record of `mod`, failed candidates included (what a resumed run counts)."""
    if not db.has_workload(mod):
        return 0
    return sum(1 for r in db.get_all_tuning_records()
               if tvm_ffi.structural_equal(r.workload.mod, mod))
