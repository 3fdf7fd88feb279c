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

import numpy as np
import tvm
from tvm import relax, tirx
from tvm.s_tir.stmt import SBlock
from tvm.tirx import IterVar

from edgemobilenet.backends.tvm.build import export
from edgemobilenet.backends.tvm.relax_builder import MACS_ATTR

KERNELS_LIB = "kernels.so"


def _has_mul(e) -> bool:
    if isinstance(e, tirx.Mul):
        return True
    kids = [getattr(e, f, None) for f in ("a", "b", "value", "condition", "true_value",
                                           "false_value")] + list(getattr(e, "args", []))
    return any(isinstance(k, tvm.ir.expr.Expr) and _has_mul(k) for k in kids)


def kernel_macs(stmt) -> int:
    """Multiply-accumulates of one call: every reduction block whose update multiplies
    counts the product of its iteration extents (TE kernels: the full iteration space); a
    hand-written kernel counts what it declares (`relax_builder.MACS_ATTR`)."""
    if isinstance(stmt, tirx.AttrStmt) and stmt.attr_key == MACS_ATTR:
        return int(stmt.value)
    if isinstance(stmt, SBlock):
        own = 0
        if any(iv.iter_type == IterVar.CommReduce for iv in stmt.iter_vars) and \
                isinstance(stmt.body, tirx.BufferStore) and _has_mul(stmt.body.value):
            own = int(np.prod([int(iv.dom.extent) for iv in stmt.iter_vars], dtype=np.int64))
        return own + kernel_macs(stmt.body)
    if isinstance(stmt, tirx.SeqStmt):
        return sum(kernel_macs(s) for s in stmt.seq)
    return sum(kernel_macs(v) for f in ("block", "body", "then_case", "else_case")
               if isinstance(v := getattr(stmt, f, None), tirx.Stmt))


def kernel_ops(name: str) -> str:
    """The primitives fused into a kernel, from its name: fused_conv2d3_requant7_prep6 ->
    conv2d+requant+prep (the names relax_builder gives its TE kernels and Relax ops)."""
    words: list[str] = []
    for t in (p.rstrip("0123456789") for p in name.removeprefix("fused_").split("_")):
        if t == "packed" and words:   # conv_packed, dense_packed: one primitive
            words[-1] += "_packed"
        elif t:
            words.append(t)
    return "+".join(dict.fromkeys(words))


def main_calls(mod: tvm.IRModule) -> list[tuple[str, list]]:
    """[(kernel name, its arguments)] of every `call_tir` in `main`, in order."""
    call_tir = tvm.ir.Op.get("relax.call_tir")
    out: list[tuple[str, list]] = []

    def visit(e) -> None:
        if isinstance(e, relax.Call) and e.op == call_tir:
            out.append((e.args[0].name_hint, list(e.args[1].fields)))

    relax.analysis.post_order_visit(mod["main"].body, visit)
    return out


def kernel_table(mod: tvm.IRModule) -> list[dict[str, Any]]:
    """[{name, op, calls, macs (per call), args: [[shape, dtype], ...]}] of the kernels
    `main` calls, in order."""
    funcs = {gv.name_hint: f for gv, f in mod.functions.items()
             if isinstance(f, tvm.tirx.PrimFunc)}
    calls: dict[str, int] = {}
    for name, _ in main_calls(mod):
        calls[name] = calls.get(name, 0) + 1
    return [{"name": n, "op": kernel_ops(n), "calls": c, "macs": kernel_macs(funcs[n].body),
             "args": [[[int(d) for d in p.shape], str(p.dtype)] for p in funcs[n].params]}
            for n, c in calls.items()]


def export_kernels(ex, path: str | os.PathLike, cross_compiler: str | None) -> None:
    """Write the executable's kernel library on its own (for `time_kernels`)."""
    export(ex.mod.imports[0], path, cross_compiler)
