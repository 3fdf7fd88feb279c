"""Tensor intrinsics for Cortex-M, registered with TVM for MetaSchedule's tensorize rules.

`emb_smlad_4x{n}` (Cortex-M4/M7, DSP extension): n int32 accumulators each += a dot
product of 4 int8 activations with 4 int8 weights (a row of `n` output channels, rows
strided: the weights keep their (OC, ..., C) layout). Each word of 4 int8 is split by
SXTB16 into even and odd bytes as two int16 pairs (`sxtb16(x)`, `sxtb16(x >> 8)`); two
SMLAD then add the four products. The activation word is loaded and split once for the
n channels. LLVM intrinsics, so the kernel stays one object with no helper calls.
"""
from __future__ import annotations

from tvm.s_tir import TensorIntrin
from tvm.script import tirx as T
from tvm.target import Target

from edgemobilenet.backends.tvm.mcu.tir_ops import TirLayer

SMLAD_ROWS = 4
SMLAD = f"emb_smlad_4x{SMLAD_ROWS}"
_DSP_CPUS = ("cortex-m4", "cortex-m7")


def _smlad(n: int):
    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        sb = T.int32()
        A = T.match_buffer(a, (4,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n, 4), "int8", offset_factor=1, strides=[sb, 1])
        C = T.match_buffer(c, (n,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0:n], A[0:4], B[0:n, 0:4])
            T.writes(C[0:n])
            for i, k in T.grid(n, 4):
                with T.sblock("update"):
                    vi, vk = T.axis.remap("SR", [i, k])
                    C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle) -> None:
        sb = T.int32()
        A = T.match_buffer(a, (4,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n, 4), "int8", offset_factor=1, strides=[sb, 1])
        C = T.match_buffer(c, (n,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0:n], A[0:4], B[0:n, 0:4])
            T.writes(C[0:n])
            xa = T.reinterpret(A.vload([0], "int8x4"), dtype="int32")
            a_even = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.arm.sxtb16"), xa, dtype="int32")
            a_odd = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.arm.sxtb16"), xa >> 8, dtype="int32")
            for i in T.unroll(n):
                xb = T.reinterpret(B.vload([i, 0], "int8x4"), dtype="int32")
                C[i] = T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id("llvm.arm.smlad"), a_odd,
                    T.call_llvm_pure_intrin(T.llvm_lookup_intrinsic_id("llvm.arm.sxtb16"),
                                            xb >> 8, dtype="int32"),
                    T.call_llvm_pure_intrin(
                        T.llvm_lookup_intrinsic_id("llvm.arm.smlad"), a_even,
                        T.call_llvm_pure_intrin(
                            T.llvm_lookup_intrinsic_id("llvm.arm.sxtb16"), xb,
                            dtype="int32"),
                        C[i], dtype="int32"),
                    dtype="int32")

    return desc, impl


TensorIntrin.register(SMLAD, *_smlad(SMLAD_ROWS), override=True)


def for_layer(target: Target, layer: TirLayer) -> list[str]:
    """Intrinsics MetaSchedule may tensorize this layer's accumulation with."""
    if str(target.attrs.get("mcpu", "")) not in _DSP_CPUS:
        return []
    if layer.kind not in ("pointwise", "conv", "fully_connected"):
        return []
    out_c = int(layer.func.params[1].shape[0])        # W: (OC, KH*KW*C/groups)
    return [SMLAD] if layer.reduce_c % 4 == 0 and out_c % SMLAD_ROWS == 0 else []
