"""`compile_linux`: QGraph -> build directory with a (cross-compiled) TVM `.so` + manifest."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from edgemobilenet.backends.tvm import knob_space, tune_dbs
from edgemobilenet.backends.tvm.build import (compile_module, export, lower, schedule_kernels,
                                              tvm_target)
from edgemobilenet.backends.tvm.kernel_profile import KERNELS_LIB, export_kernels, kernel_table
from edgemobilenet.backends.tvm.linux_target import LinuxTarget, linux_target
from edgemobilenet.backends.tvm.ms_database import apply_databases
from edgemobilenet.quant import qgraph as qg
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target

LIB_NAME = "model.so"


def _tensor_doc(g: QGraph, name: str) -> dict[str, Any]:
    t = g.tensors[name]
    return {"name": name, "shape": list(t.shape), "dtype": t.dtype, "scale": t.scale,
            "zero_point": t.zero_point}


def compile_linux(g: QGraph, target: Target | str, out_dir: str | os.PathLike,
                  tune_db: str | os.PathLike | None = None) -> dict[str, Any]:
    """Compile `g` for a linux target into `out_dir` (replaced atomically).

    Writes `model.so` (cross-compiled for the board), `kernels.so` (its kernels alone, for
    per-kernel timing), `model.qgraph` and `manifest.json`; returns the manifest. Tuned
    schedules come from `tune_db` then the package's database for the target
    (`tune_dbs.resolve`; "none": neither); each kernel's `schedule` in the manifest names
    the database it came from, or "default".
    """
    lt: LinuxTarget = target if isinstance(target, LinuxTarget) else linux_target(target)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    dbs = tune_dbs.resolve(lt.name, tune_db)
    unscheduled = lower(g, lt.tvm_target, schedule=False)
    unscheduled, applied = apply_databases(unscheduled, tvm_target(lt.tvm_target), dbs,
                                           knob_space.for_module(lt.tvm_target, unscheduled))
    kernels = kernel_table(unscheduled)   # MACs from the computation, before tensorizing
    for k in kernels:
        k["schedule"] = applied.kernels.get(k["name"], "default")
    mod = schedule_kernels(unscheduled, lt.tvm_target)
    ex = compile_module(mod, lt.tvm_target)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    tmp.chmod(0o755)
    try:
        export(ex, tmp / LIB_NAME, lt.cross_compiler)
        export_kernels(ex, tmp / KERNELS_LIB, lt.cross_compiler)
        qg.save(g, tmp / "model.qgraph")
        manifest = {
            "backend": "tvm",
            "target": lt.name,
            "tvm_target": lt.tvm_target,
            "cross_compiler": lt.cross_compiler,
            "threads": lt.threads,
            "model_hash": g.digest(),
            "model": g.meta,
            "inputs": [_tensor_doc(g, t) for t in g.inputs],
            "outputs": [_tensor_doc(g, t) for t in g.outputs],
            "nodes": len(g.nodes),
            "library": LIB_NAME,
            "library_bytes": (tmp / LIB_NAME).stat().st_size,
            "kernel_library": KERNELS_LIB,
            "kernels": kernels,
            "tuned": bool(applied.kernels),
            "tune_dbs": [{"label": label, "path": str(d), "kernels": sum(
                1 for v in applied.kernels.values() if v == label)} for label, d in dbs],
            "tune_notes": applied.notes,
            "compile_seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        old = out_dir.with_name(f".{out_dir.name}.old")
        if out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
