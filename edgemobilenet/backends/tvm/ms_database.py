"""The Linux MetaSchedule database on disk: opening it, applying it to a module, and
counting what it already holds, so a resumed tuning run only adds the candidates still
missing (`attempted`, both tuners: Cortex-M and Linux)."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tvm
import tvm_ffi
from tvm.s_tir import meta_schedule as ms
from tvm import s_tir

from edgemobilenet.backends.tvm import tile_intrins, tvm_compat
from edgemobilenet.backends.tvm.knob_space import KnobScheduler, parse_knobs, record_knobs
from edgemobilenet.errors import EdgembError

MODULE_EQUALITY = "anchor-block"   # kernels with the same anchor (conv shape) share records


def open_database(db_dir: str | os.PathLike) -> ms.database.JSONDatabase:
    """Open (create) a database; the register-tile intrinsics its records use are registered
    first (loading replays every record)."""
    db_dir = Path(db_dir)
    db_dir.mkdir(parents=True, exist_ok=True)
    records = db_dir / "database_tuning_record.json"
    if records.is_file():
        tvm_compat.cpu_tensor_intrins()
        with records.open() as f:
            for line in f:
                if line.strip():
                    for n in _intrins(json.loads(line)[1][0]):
                        register_intrinsic(n)
    return ms.database.JSONDatabase(work_dir=str(db_dir), module_equality=MODULE_EQUALITY)


def check_database(db_dir: str | os.PathLike) -> Path:
    """`db_dir` if it holds a tuning database (EdgembError otherwise)."""
    if not Path(db_dir, "database_tuning_record.json").is_file():
        raise EdgembError(f"{db_dir}: not a tuning database (no database_tuning_record.json)")
    return Path(db_dir)


@dataclass
class Applied:
    """What `apply_databases` did: the kernels each database scheduled, and why a record
    found was not used (its trace no longer applies, or it needs what the module lacks)."""
    kernels: dict[str, str] = field(default_factory=dict)   # kernel -> database label
    notes: list[str] = field(default_factory=list)


def workload_key(fmod: tvm.IRModule) -> str:
    """A kernel's key in a shipped database: the structural hash of its workload's
    computation (attributes such as its symbol left out)."""
    f = fmod["main"]
    for k in list(f.attrs.keys()) if f.attrs else []:
        f = f.without_attr(k)
    return str(tvm_ffi.structural_hash(f))


class _Source:
    """One database to look kernels up in: a MetaSchedule database directory (`edgemb tune`)
    or a shipped file (`tune_dbs`: {"kernels": [{"workload", "trace", ...}]})."""

    def __init__(self, path: Path) -> None:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            self.db, self.shipped = None, {k["workload"]: k for k in doc["kernels"]}
        else:
            self.db, self.shipped = open_database(check_database(path)), {}

    def lookup(self, fmod: tvm.IRModule, target, name: str) -> tuple[Any, Any, bool] | None:
        """(trace, its knobs or None, same workload) of the best record for a kernel."""
        if self.db is None:
            k = self.shipped.get(workload_key(fmod))
            return None if k is None else (k["trace"], k.get("knobs"), True)
        with target:
            rec = self.db.query_tuning_record(fmod, target, name)
        if rec is None:
            return None
        return rec.trace, record_knobs(rec.trace), tvm_ffi.structural_equal(
            rec.workload.mod, fmod)


def trace_json(trace: s_tir.Trace) -> list:
    """A trace as plain JSON data (what a shipped file stores; `_replay` reads it back)."""
    def plain(v):
        if isinstance(v, (tvm.tirx.IntImm, tvm.tirx.FloatImm)):
            return v.value
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        if hasattr(v, "items"):
            return {str(k): plain(x) for k, x in v.items()}
        return [plain(x) for x in v]

    return plain(trace.as_json())


def _replay(fmod: tvm.IRModule, trace, target) -> s_tir.Schedule:
    """The kernel scheduled by `trace` (a Trace, or its JSON from a shipped file)."""
    tvm_compat.cpu_tensor_intrins()
    for n in _intrins(trace):
        register_intrinsic(n)
    sch = s_tir.Schedule(fmod)
    with target:
        if isinstance(trace, s_tir.Trace):
            trace.apply_to_schedule(sch, remove_postproc=False)
        else:
            s_tir.Trace.apply_json_to_schedule(trace, sch)
    return sch


def register_intrinsic(name: str) -> None:
    """Register one of our register-tile intrinsics a trace names (TVM's own are already)."""
    from edgemobilenet.backends.tvm import intrin_avx2, intrin_neon, intrin_requant

    kind = tile_intrins.kind(name)
    if kind is None:
        return
    pixels, channels, kblocks = tile_intrins.shape(name)
    if kind == intrin_requant.KIND:
        intrin_requant.intrin(pixels, channels, kblocks)
    elif kind == "avx2":
        intrin_avx2.intrin(pixels, kblocks)
    else:
        intrin_neon.intrin(pixels, kblocks, kind)


def _intrins(trace) -> list[str]:
    """The tensor intrinsics a trace tensorizes with."""
    if isinstance(trace, s_tir.Trace):
        return [str(i.attrs[0]) for i in trace.insts if i.kind.name == "Tensorize"]
    return [str(i[2][0]) for i in trace[0] if i[0] == "Tensorize"]


def apply_databases(mod: tvm.IRModule, target: tvm.target.Target,
                    dbs: Sequence[tuple[str, str | os.PathLike]],
                    knobs: KnobScheduler | None = None) -> tuple[tvm.IRModule, Applied]:
    """Schedule each kernel of `mod` with its best record in the first of `dbs` (label,
    database directory or shipped file) that has one. A record of the same kernel replays
    its trace; one of another kernel with the same anchor (e.g. conv shape, other epilogue)
    is rescheduled from its knobs by `knobs` (`knob_space` records) or replayed on the
    anchor (MetaSchedule's). A record that no longer applies (schedule code changed) or
    needs the narrow-weight NEON tile on a module with a -128 weight is skipped with a
    note: the kernel keeps its default schedule. Kernels without a record stay unscheduled."""
    from tvm.s_tir.meta_schedule.trace_apply import schedule_using_anchor_trace

    from edgemobilenet.backends.tvm import intrin_neon

    sources = [(label, _Source(Path(d))) for label, d in dbs]
    narrow = intrin_neon.narrow_weights(mod)
    applied, updates = Applied(), {}
    for gv, func in mod.functions.items():
        if not isinstance(func, tvm.tirx.PrimFunc) or (func.attrs and func.attrs.get(
                "tirx.is_scheduled", False)):
            continue
        fmod = tvm_compat.normalize_mod(func)
        for label, src in sources:
            found = src.lookup(fmod, target, gv.name_hint)
            if found is None:
                continue
            trace, knob_text, same = found
            if not narrow and any(tile_intrins.kind(n) == "neon" for n in _intrins(trace)):
                applied.notes.append(f"{gv.name_hint}: the {label} record needs weights "
                                     f"without -128; default schedule used")
                continue
            try:
                if same:
                    sch = _replay(fmod, trace, target)
                elif knob_text is not None and knobs is not None:
                    sch = knobs(fmod["main"], parse_knobs(knob_text))
                    if sch is None:
                        raise EdgembError(f"knobs {knob_text} do not fit")
                else:
                    sch = s_tir.Schedule(fmod)
                    with target:
                        schedule_using_anchor_trace(sch, trace, target)
            except Exception as e:  # noqa: BLE001 - any replay failure: default schedule
                msg = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                applied.notes.append(f"{gv.name_hint}: the {label} record no longer applies "
                                     f"(schedule code changed?), default schedule used: "
                                     f"{msg[:200]}")
                continue
            updates[gv] = _as_before(sch.mod["main"], func)
            applied.kernels[gv.name_hint] = label
            break
    if not updates:
        return mod, applied
    out = mod.clone()
    for gv, f in updates.items():
        out.update_func(gv, f)
    return out, applied


def _as_before(new: tvm.tirx.PrimFunc, old: tvm.tirx.PrimFunc) -> tvm.tirx.PrimFunc:
    """A scheduled kernel with the original's symbol (`tvm_compat.normalize_mod` named it
    main)."""
    sym = old.attrs.get("global_symbol") if old.attrs else None
    new = new.with_attr("global_symbol", sym) if sym else new.without_attr("global_symbol")
    return new.with_attr("tirx.is_scheduled", True)


def attempted(db: ms.database.Database, mod: tvm.IRModule) -> int:
    """Every record of `mod`, failed candidates included (what a resumed run counts)."""
    if not db.has_workload(mod):
        return 0
    return sum(1 for r in db.get_all_tuning_records()
               if tvm_ffi.structural_equal(r.workload.mod, mod))
