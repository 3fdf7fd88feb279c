"""Counting what a MetaSchedule database already holds, so a resumed tuning run only adds
the candidates still missing (both tuners: Cortex-M and Linux)."""
from __future__ import annotations

import tvm
import tvm_ffi
from tvm.s_tir import meta_schedule as ms


def attempted(db: ms.database.Database, mod: tvm.IRModule) -> int:
    """Every record of `mod`, failed candidates included (what a resumed run counts)."""
    if not db.has_workload(mod):
        return 0
    return sum(1 for r in db.get_all_tuning_records()
               if tvm_ffi.structural_equal(r.workload.mod, mod))
