"""Per-kernel timing of a compiled Relax module on a board: the Relax VM has no profiler in
TVM 0.27, so each fused kernel (TIR PrimFunc) is timed on its own with `time_evaluator`.

At compile time `kernel_table` lists the kernels in call order with their call counts and
argument shapes, and `export_kernels` writes them as a separate library (the VM library
does not expose its kernels over RPC). On the board (`device/tvm_vm.py`) each kernel
runs on zero-filled arguments: integer kernels have no data-dependent control flow, so the
time is the time.
"""
from __future__ import annotations

import os
from typing import Any

import tvm
from tvm import relax

from edgemobilenet.backends.tvm.build import export

KERNELS_LIB = "kernels.so"


def kernel_table(mod: tvm.IRModule) -> list[dict[str, Any]]:
    """[{name, calls, args: [[shape, dtype], ...]}] of the kernels `main` calls, in order."""
    funcs = {gv.name_hint: f for gv, f in mod.functions.items()
             if isinstance(f, tvm.tirx.PrimFunc)}
    call_tir = tvm.ir.Op.get("relax.call_tir")
    calls: dict[str, int] = {}

    def visit(e) -> None:
        if isinstance(e, relax.Call) and e.op == call_tir:
            name = e.args[0].name_hint
            calls[name] = calls.get(name, 0) + 1

    relax.analysis.post_order_visit(mod["main"].body, visit)
    return [{"name": n, "calls": c,
             "args": [[[int(d) for d in p.shape], str(p.dtype)] for p in funcs[n].params]}
            for n, c in calls.items()]


def export_kernels(ex, path: str | os.PathLike, cross_compiler: str | None) -> None:
    """Write the executable's kernel library on its own (for `time_kernels`)."""
    export(ex.mod.imports[0], path, cross_compiler)
