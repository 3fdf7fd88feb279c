"""Compile a QGraph with TVM for one CPU target, run it in-process, or export a `.so`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tvm
from tvm import relax

from edgemobilenet.backends.tvm import (default_schedules, intrin_vnni, knob_space, layouts,
                                        te_fixedpoint, tvm_compat)
from edgemobilenet.backends.tvm.ms_database import apply_databases
from edgemobilenet.backends.tvm.relax_builder import ELEMWISE_ATTR, build_module
from edgemobilenet.device.tvm_vm import run_vm
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph


def tvm_target(spec: dict[str, Any]) -> tvm.target.Target:
    """A TVM target from its dict form (`{"kind": "llvm", "mtriple": ..., "mcpu": ...}`)."""
    try:
        return tvm.target.Target(dict(spec))
    except Exception as e:  # TVM raises its own error types for bad keys/values
        raise EdgembError(f"tvm target {spec}: {e}") from None


def host_target() -> dict[str, Any]:
    """The machine we run on: llvm with the host CPU's name (from LLVM)."""
    return {"kind": "llvm", "mcpu": tvm.target.codegen.llvm_get_system_cpu(),
            "num-cores": os.cpu_count() or 1}


def lower(g: QGraph, target: dict[str, Any], tune_db: str | os.PathLike | None = None,
          layout: layouts.Layout | None | str = "auto", schedule: bool = True) -> tvm.IRModule:
    """QGraph -> Relax module after the zero pipeline (legalize, fold, fuse).

    `layout` "auto" uses the target's dot-product layout (`layouts.select`), None the
    generic NHWC/OHWI kernels. With `tune_db` (a MetaSchedule database directory) the
    tuned schedules are applied; with `schedule` the remaining kernels get the hand-written
    default schedules (`default_schedules`); without, they stay unscheduled (tuning tasks).
    """
    lay = layouts.select(target) if layout == "auto" else layout
    if lay is not None and lay.intrin:   # tuning and databases look intrinsics up by name
        tvm_compat.cpu_tensor_intrins()
    if lay is layouts.VNNI:
        intrin_vnni.register()
    mod = _zero_pipeline()(build_module(g, lay, form=te_fixedpoint.form(target)))
    if tune_db is not None:
        mod, _ = apply_databases(mod, tvm_target(target), [(str(tune_db), tune_db)],
                                 knob_space.for_module(target, mod))
    return schedule_kernels(mod, target, lay) if schedule else mod


def schedule_kernels(mod: tvm.IRModule, target: dict[str, Any],
                     lay: layouts.Layout | None | str = "auto") -> tvm.IRModule:
    """The hand-written default schedules for every kernel of `mod` not scheduled yet."""
    lay = layouts.select(target) if lay == "auto" else lay
    return default_schedules.apply(mod, tvm_target(target), lay,
                                   tensorize=lay is layouts.select(target))


@tvm.transform.module_pass(opt_level=0, name="MarkElemwise")
def _mark_elemwise(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    """`op_pattern` 0 (kElemWise) for the kernels `relax_builder` marked elementwise."""
    for gv, f in list(mod.functions.items()):
        if isinstance(f, tvm.tirx.PrimFunc) and f.attrs and ELEMWISE_ATTR in f.attrs:
            mod[gv] = f.without_attr(ELEMWISE_ATTR).with_attr("op_pattern", 0)
    return mod


def _zero_pipeline() -> tvm.transform.Pass:
    """Relax's "zero" pipeline (legalize, fold, fuse) with the elementwise marks applied
    after the op-pattern analysis (checked on TVM 0.27)."""
    t = relax.transform
    return tvm.transform.Sequential([t.LegalizeOps(), t.AnnotateTIROpPattern(), _mark_elemwise,
                                     t.FoldConstant(), t.FuseOps(), t.FuseTIR()])


# TIR's LoopPartition splits loops at the `likely` conditions of a kernel (depthwise
# padding: interior and border apart); constant loops only with this switch
PASS_CONFIG = {"s_tir.LoopPartition": {"partition_const_loop": True}}


def pass_context() -> tvm.transform.PassContext:
    """The current pass context with `PASS_CONFIG`: every kernel build (the module and
    tuning candidates alike) lowers under it, so a tuned candidate is the code that ships."""
    ctx = tvm.transform.PassContext.current()
    return tvm.transform.PassContext(opt_level=ctx.opt_level,
                                     config={**ctx.config, **PASS_CONFIG})


def compile_module(mod: tvm.IRModule, target: dict[str, Any]):
    """Build a lowered module for `target` (a TVM target dict): a `tvm.runtime.Executable`."""
    tgt = tvm_target(target)
    with tgt, pass_context():
        return tvm.compile(mod, tgt)


def build_candidate(mod: tvm.IRModule, target: tvm.target.Target, params=None):
    """MetaSchedule's build of one tuning candidate (`LocalBuilder` f_build) under
    `pass_context`."""
    from tvm.s_tir.meta_schedule.builder import local_builder

    with pass_context():
        return local_builder.default_build(mod, target, params)


def compile_qgraph(g: QGraph, target: dict[str, Any], tune_db: str | os.PathLike | None = None,
                   layout: layouts.Layout | None | str = "auto"):
    """Compile for `target` (a TVM target dict); returns a `tvm.runtime.Executable`."""
    return compile_module(lower(g, target, tune_db, layout), target)


def run_local(ex, g: QGraph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run a host-compiled executable in this process: {output tensor name: int8 array}."""
    dev = tvm.cpu()
    vm = relax.VirtualMachine(ex, dev)
    return dict(zip(g.outputs, run_vm(vm, dev, x, len(g.outputs))))


def shared_library_compiler(compiler: str | None = None) -> Callable[..., None]:
    """`export_library`'s fcompile: links a shared library with `compiler` (default TVM's
    choice for the host) as TVM's `cc.create_shared` does on Linux, but under a time limit
    (TVM waits for the compiler without one)."""
    from tvm.support import cc

    exe = compiler or cc.get_cc()

    def fcompile(output: str, objects, options: list[str] | None = None) -> None:
        objs = [objects] if isinstance(objects, str) else list(objects)
        cmd = [exe, "-shared", "-fPIC", "-o", output, *(options or []), *objs]
        r = child.run(cmd, output, child.COMPILE_TIMEOUT_S)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {(r.stdout + r.stderr).strip()}")

    fcompile.output_format = "so"
    fcompile.get_target_triple = cc.create_shared.get_target_triple
    return fcompile


def export(ex, path: str | os.PathLike, cross_compiler: str | None = None) -> Path:
    """Write the executable as a shared library (cross-compiled when a compiler is named)."""
    path = Path(path)
    try:
        ex.export_library(str(path), fcompile=shared_library_compiler(cross_compiler))
    except Exception as e:
        raise EdgembError(f"{path}: exporting the TVM library failed: {e}") from None
    return path
