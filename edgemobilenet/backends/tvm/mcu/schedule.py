"""The untuned schedule of a layer's PrimFunc: no temporaries beyond a scalar accumulator.

Without it the accumulator of a conv is a whole int32 tensor (a firmware workspace
allocation); here the padding is inlined into its reader and the accumulator is computed
at the output's innermost loop. Tuned kernels come from the MetaSchedule database instead.
"""
from __future__ import annotations

import tvm
from tvm import s_tir, tirx


def _block_names(sch: s_tir.Schedule) -> list[str]:
    return [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]


def default_schedule(func: tirx.PrimFunc | tvm.IRModule) -> tvm.IRModule:
    mod = func if isinstance(func, tvm.IRModule) else tvm.IRModule({"main": func})
    sch = s_tir.Schedule(mod)
    names = _block_names(sch)
    if "pad" in names:
        sch.compute_inline(sch.get_sblock("pad"))
    if "acc" in names and "Y" in names:
        loops = sch.get_loops(sch.get_sblock("Y"))
        sch.compute_at(sch.get_sblock("acc"), loops[-1])
    return sch.mod
