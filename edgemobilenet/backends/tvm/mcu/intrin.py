"""Tensor intrinsics for Cortex-M, registered with TVM for MetaSchedule's tensorize rules.

Both compute n int32 accumulators, each += the dot product of K int8 activations with a
row of K int8 weights (n output channels; rows strided, so the weights keep their
(OC, KH*KW*C) layout). LLVM intrinsics only: the kernel stays one object, no helper calls.

- `emb_smlad_4x4` (Cortex-M4/M7, DSP extension, K = 4): each word of 4 int8 is split by
  SXTB16 into even and odd bytes as int16 pairs (`sxtb16(x)`, `sxtb16(x >> 8)`), two
  SMLAD add the four products; the activation word is loaded and split once for n rows.
- `emb_mve_16x4` (Cortex-M55, MVE, K = 16): `vector.reduce.add` of the widened products
  of two int8x16 vectors, which LLVM selects as one VMLAVA.S8 per row.
"""
from __future__ import annotations

from tvm.s_tir import TensorIntrin
from tvm.script import tirx as T
from tvm.target import Target

from edgemobilenet.backends.tvm.mcu.tir_ops import TirLayer

SMLAD_ROWS = 4
SMLAD = f"emb_smlad_4x{SMLAD_ROWS}"
MVE_K, MVE_ROWS = 16, 4
MVE = f"emb_mve_{MVE_K}x{MVE_ROWS}"


def _smlad(n: int):
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

    return _desc(n, 4), impl


def _mve(n: int, k: int):
    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle) -> None:
        sb = T.int32()
        A = T.match_buffer(a, (k,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n, k), "int8", offset_factor=1, strides=[sb, 1])
        C = T.match_buffer(c, (n,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0:n], A[0:k], B[0:n, 0:k])
            T.writes(C[0:n])
            va = T.Cast(f"int32x{k}", A.vload([0], f"int8x{k}"))
            for i in T.unroll(n):
                C[i] = C[i] + T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(f"llvm.vector.reduce.add.v{k}i32"),
                    va * T.Cast(f"int32x{k}", B.vload([i, 0], f"int8x{k}")), dtype="int32")

    return _desc(n, k), impl


def _desc(n: int, k: int):
    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        sb = T.int32()
        A = T.match_buffer(a, (k,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n, k), "int8", offset_factor=1, strides=[sb, 1])
        C = T.match_buffer(c, (n,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0:n], A[0:k], B[0:n, 0:k])
            T.writes(C[0:n])
            for i, j in T.grid(n, k):
                with T.sblock("update"):
                    vi, vj = T.axis.remap("SR", [i, j])
                    C[vi] = C[vi] + T.cast(A[vj], "int32") * T.cast(B[vi, vj], "int32")

    return desc


TensorIntrin.register(SMLAD, *_smlad(SMLAD_ROWS), override=True)
TensorIntrin.register(MVE, *_mve(MVE_ROWS, MVE_K), override=True)


def for_layer(target: Target, layer: TirLayer) -> list[str]:
    """Intrinsics MetaSchedule may tensorize this layer's accumulation with."""
    if layer.kind not in ("pointwise", "conv", "fully_connected"):
        return []
    out_c = int(layer.func.params[1].shape[0])        # W: (OC, KH*KW*C/groups)
    if has_feature(target, "mve"):
        return [MVE] if layer.reduce_c % MVE_K == 0 and out_c % MVE_ROWS == 0 else []
    if has_feature(target, "dsp") and layer.reduce_c % 4 == 0 and out_c % SMLAD_ROWS == 0:
        return [SMLAD]
    return []


def has_feature(target: Target, feature: str) -> bool:
    """Whether the TVM target's `mattr` (from the target file's [llvm] table) enables
    `feature` ("dsp", "mve")."""
    return f"+{feature}" in [str(a) for a in target.attrs.get("mattr", [])]
