"""Cortex-A / Linux backend: QGraph -> Relax (integer ops) -> TVM `.so`, run over TVM RPC.

Entry point for `edgemb compile --target rpi4`: `compile_linux(g, target, out_dir, tune_db)`.
"""
from edgemobilenet.backends.tvm import tvm_compat  # noqa: F401  (fails clearly on another TVM)
from edgemobilenet.backends.tvm.export import compile_linux

__all__ = ["compile_linux"]
