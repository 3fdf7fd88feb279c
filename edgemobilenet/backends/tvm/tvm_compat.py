"""Every use of TVM internals in edgemobilenet, in one place, each with why and the TVM
version it was checked on. Public TVM API is used directly elsewhere; anything that
reaches behind it (private fields, module stand-ins, process-wide overrides, copies of
TVM's own pass lists) lives here. `check_version` (run on import) fails clearly on a TVM
these were not checked against: update and re-check each entry, then `CHECKED`.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

import tvm

from edgemobilenet.errors import EdgembError

CHECKED = "0.27"   # apache-tvm 0.27.0.post1 with apache-tvm-ffi 0.1.14.post0 (pyproject.toml)


def check_version(version: str | None = None) -> None:
    """Raise EdgembError unless TVM `version` (default: the installed one) is CHECKED."""
    v = version or tvm.__version__
    if v != CHECKED and not v.startswith(CHECKED + "."):
        raise EdgembError(
            f"TVM {v} is installed; edgemobilenet's TVM backends were checked against TVM "
            f"{CHECKED} and use internals that change between releases "
            f"(backends/tvm/tvm_compat.py lists them): install apache-tvm=={CHECKED}.0.post1")


check_version()


# -- MetaSchedule's RPC runner (backends/tvm/bounded_runner.py), checked on 0.27 -------------

def python_runner(runner: Any) -> Any:
    """The Python object behind a `derived_object` runner such as `ms.runner.RPCRunner`.

    Why: calling `run` on the derived object goes through the FFI and returns bare runner
    futures; the Python instance's futures keep the attributes (`future`) a time limit needs.
    Internal: `_inst` (tvm/ir/utils.py `derived_object`)."""
    return runner._inst


def pool_worker_processes(pool: Any) -> list[Any]:
    """The live worker processes of a `tvm.support.popen_pool.PopenPoolExecutor`.

    Why: the pool has no public per-worker kill, and a board that stops answering blocks
    a worker for ever. Internal: `_lock`, `_worker_map`, `PopenWorker._proc`."""
    with pool._lock:
        return [w._proc for w in pool._worker_map.values() if w._proc is not None]


# -- TVM's shipped tensor intrinsics, imported lean, checked on 0.27 -----------------------

TENSOR_INTRIN = "tvm.s_tir.tensor_intrin"


def lean_tensor_intrin_package() -> None:
    """Make `import tvm.s_tir.tensor_intrin` cheap: its submodules register only when asked.

    Why: the package's `__init__` builds every CUDA, ROCm, Hexagon, RISC-V, x86 and Arm
    intrinsic from TVMScript (about 25 s of CPU here; over 3 minutes on a loaded machine, so
    every `edgemb` command that imported it started that slowly), and MetaSchedule's
    `TuneContext` imports the package although our search spaces only use intrinsics
    registered on their own. Internal: a package module with the real `__path__` but
    without running `__init__` stands in in `sys.modules` (unless the real package was
    imported already); `from tvm.s_tir.tensor_intrin import x86` still works."""
    if TENSOR_INTRIN in sys.modules:
        return
    spec = importlib.util.find_spec(TENSOR_INTRIN)
    pkg = types.ModuleType(TENSOR_INTRIN, "TVM's tensor intrinsics (lean: tvm_compat)")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__package__ = TENSOR_INTRIN
    sys.modules[TENSOR_INTRIN] = pkg


def cpu_tensor_intrins() -> None:
    """Register TVM's shipped Arm (NEON, sdot) and x86 tensor intrinsics, nothing else."""
    lean_tensor_intrin_package()
    importlib.import_module(TENSOR_INTRIN + ".arm_cpu")
    importlib.import_module(TENSOR_INTRIN + ".x86")


# -- a shipped tensor intrinsic replaced process-wide (backends/tvm/intrin_vnni.py) ----------

def override_tensor_intrin(name: str, desc: Any, impl: Any) -> None:
    """Replace the registered tensor intrinsic `name` for the whole process.

    Why: the shipped `dot_16x4_vnni` fails to build with the wheel's LLVM 22 (checked on
    0.27), and MetaSchedule's x86 rules look the intrinsic up by that name, so a fix must
    take its place. Not an internal API, but a global side effect: every module compiled
    in the process afterwards sees the replacement."""
    from tvm.s_tir import TensorIntrin

    TensorIntrin.register(name, desc, impl, override=True)


# -- s_tir's default TIR lowering, copied (backends/tvm/mcu/unpacked_api.py) ------------------

def s_tir_default_passes(config: Any, api_pass: Any) -> list[Any]:
    """s_tir's default lowering for a CPU (tvm/s_tir/pipeline.py of 0.27) with `api_pass`
    in place of `MakePackedAPI`.

    Why: TVM 0.27 has no unpacked C API switch; building with its pipeline and patching
    the module at run time would be worse than owning this copy. Re-check it against
    tvm/s_tir/pipeline.py on every TVM upgrade."""
    from tvm import s_tir, tirx

    return [
        s_tir.transform.CanonicalizeLoop(),
        s_tir.transform.LowerCrossThreadReduction(),
        s_tir.transform.LowerInitBlock(),
        s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
        s_tir.transform.ConvertBlocksToOpaque(),
        s_tir.transform.LiftThreadBinding(),
        s_tir.transform.CompactBufferAllocation(),
        s_tir.transform.LowerAutoCopy(),
        s_tir.transform.UnifyThreadBinding(),
        s_tir.transform.LowerMatchBuffer(),
        s_tir.transform.StmtSimplify(),
        s_tir.transform.AnnotateIrregularLoop(),
        s_tir.transform.InjectSoftwarePipeline(),
        s_tir.transform.LowerOpaqueBlock(),
        tirx.transform.FlattenBuffer(),
        tirx.transform.NarrowDataType(32),
        s_tir.transform.LoopPartition(),
        tirx.transform.VectorizeLoop(not bool(config.get("tirx.disable_vectorize", False))),
        s_tir.transform.InjectVirtualThread(),
        s_tir.transform.InjectDoubleBuffer(),
        tirx.transform.StorageRewrite(),
        s_tir.transform.HoistIfThenElse(),
        tirx.transform.UnrollLoop(),
        s_tir.transform.RenormalizeSplitPattern(),
        tirx.transform.StmtSimplify(),
        tirx.transform.RemoveNoOp(),
        s_tir.transform.RewriteUnsafeSelect(),
        tirx.transform.CommonSubexprElim(),
        tirx.transform.VerifyMemory(),
        tirx.transform.AnnotateEntryFunc(),
        api_pass,
    ]


def normalize_mod(func: Any) -> tvm.IRModule:
    """A kernel as MetaSchedule sees a workload: its PrimFunc alone in a module, named
    `main` (MetaSchedule's private `_normalize_mod`, checked on TVM 0.27)."""
    from tvm.s_tir.meta_schedule.tune_context import _normalize_mod

    return _normalize_mod(func)
