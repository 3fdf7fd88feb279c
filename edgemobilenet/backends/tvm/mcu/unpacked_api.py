"""Build TIR PrimFuncs as plain C-callable Cortex-M kernels (TVM 0.27 has no unpacked API).

`UnpackedAPI` replaces `MakePackedAPI` in a copy of the s_tir default pass list: each
buffer parameter becomes a typed pointer plus a `DeclBuffer`, the body sits inside the
`device_type`/`device_id` attributes `LowerTVMBuiltin` expects, and the function returns 0:
`int32_t sym(int8_t *X, int8_t *W, ..., int8_t *Y)`. The result is an ARM ELF object
(LLVM target) or C source (target kind `c`). Firmware links `firmware/tvm/tvm_stubs.c`
for the few runtime symbols such code may reference.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tvm
from tvm import tirx
from tvm.ir import PointerType, PrimType
from tvm.s_tir.pipeline import finalize_host_passes
from tvm.target import Target
from tvm.tirx.build import codegen_build

from edgemobilenet.backends.tvm import tvm_compat
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import Target as BoardTarget

def mcu_target(target: BoardTarget) -> Target:
    """The TVM LLVM target of a Cortex-M board: its CPU and the triple and attributes of
    its target file's [llvm] table (float ABI hard, one core)."""
    if target.llvm is None:
        raise EdgembError(f"{target.path.name}: TVM for Cortex-M needs an [llvm] table "
                          f"(mtriple, mattr) in target '{target.name}'")
    # vector-width: LLVM's default for these triples, stated to silence TVM's warning
    return Target({"kind": "llvm", "mtriple": target.llvm.mtriple, "mcpu": target.cpu,
                   "mattr": list(target.llvm.mattr), "mfloat-abi": "hard", "num-cores": 1,
                   "vector-width": 128})


def _unpack(func: tirx.PrimFunc, _mod, _ctx) -> tirx.PrimFunc:
    if not func.attrs or "global_symbol" not in func.attrs:
        return func
    params, decls = [], []
    for p in func.params:
        if tirx.buffer.is_buffer_var(p):
            ptr = tirx.Var(p.name, PointerType(PrimType(p.dtype)))
            params.append(ptr)
            decls.append(tirx.DeclBuffer(p, data=ptr))
        else:
            params.append(p)
    zero = tirx.IntImm("int32", 0)
    body = tirx.AttrStmt(zero, "device_id", zero, func.body)
    body = tirx.AttrStmt(zero, "device_type", tirx.IntImm("int32", 1), body)   # kDLCPU
    body = tirx.SeqStmt([*decls, body, tirx.Return(zero)])
    out = tirx.PrimFunc(params, body, PrimType("int32"), func.attrs)
    return out.without_attr("tirx.is_entry_func").with_attr("tirx.noalias", True)


UnpackedAPI = tirx.transform.prim_func_pass(_unpack, opt_level=0, name="UnpackedAPI")


def lower(mod: tvm.IRModule | tirx.PrimFunc, symbol: str, target: Target) -> tvm.IRModule:
    """Lower the `main` PrimFunc of `mod` (possibly scheduled) to an unpacked function."""
    if isinstance(mod, tirx.PrimFunc):
        mod = tvm.IRModule({"main": mod})
    func = mod["main"].with_attr("global_symbol", symbol)
    mod = tvm.IRModule({symbol: func})
    mod = tirx.transform.BindTarget(target.with_host(target))(mod)
    config = tvm.transform.PassContext.current().config
    passes = tvm_compat.s_tir_default_passes(config, UnpackedAPI)
    mod = tvm.transform.Sequential(passes)(mod)
    return finalize_host_passes()(mod)


def build_object(mod: tvm.IRModule | tirx.PrimFunc, symbol: str, target: Target,
                 out: Path) -> Path:
    """Compile to an ARM ELF object (LLVM target) or a C file (kind `c`) at `out`."""
    low = lower(mod, symbol, target)
    rt = codegen_build(low, target)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=out.suffix)
    os.close(fd)
    try:
        if target.kind.name == "c":
            Path(tmp).write_text(c_source(rt.inspect_source()))
        else:
            rt.write_to_file(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def c_source(src: str) -> str:
    """TVM's C output without its runtime includes and library-context global."""
    keep = [ln for ln in src.splitlines()
            if not ln.startswith('#include "tvm/') and "__tvm_ffi__library_ctx" not in ln
            and ln.strip() != "#define TVM_EXPORTS"]
    head = "#include <stdint.h>\n#include <stdbool.h>\n#ifndef TVM_DLL\n#define TVM_DLL\n#endif\n"
    return head + "\n".join(keep) + "\n"
