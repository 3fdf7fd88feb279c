"""`dot_16x4_vnni` re-registered so it builds with the wheel's LLVM 22.

The shipped implementation passes int32x16 operands to `llvm.x86.avx512.vpdpbusd.512`,
whose LLVM 22 signature takes uint8x64 / int8x64 ("Call parameter type does not match
function signature"). Same description (C[16] += A[4] (uint8) . B[16, 4] (int8)), so the
MetaSchedule VNNI rules that look the intrinsic up by name use this one. `register()` is
idempotent and must run before tuning or applying a database on an x86 VNNI target.
"""
from tvm.script import tirx as T

VNNI_INTRIN = "dot_16x4_vnni"
_registered = False


@T.prim_func(s_tir=True)
def _vnni_impl(
    A: T.Buffer((4,), "uint8", offset_factor=1),
    B: T.Buffer((16, 4), "int8", offset_factor=1),
    C: T.Buffer((16,), "int32", offset_factor=1),
) -> None:
    with T.sblock("root"):
        T.reads(C[0:16], A[0:4], B[0:16, 0:4])
        T.writes(C[0:16])
        a_i32 = T.reinterpret(A.vload([0], "uint8x4"), dtype="int32")
        a_u8x64 = T.reinterpret(T.broadcast(a_i32, 16), dtype="uint8x64")
        b_i8x64 = B.vload([0, 0], dtype="int8x64")
        C[T.ramp(T.int32(0), 1, 16)] = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
            C.vload([0], dtype="int32x16"), a_u8x64, b_i8x64, dtype="int32x16")


def register() -> None:
    """Replace the shipped `dot_16x4_vnni` (once per process)."""
    global _registered
    if _registered:
        return
    from edgemobilenet.backends.tvm import tvm_compat

    tvm_compat.cpu_tensor_intrins()
    from tvm.s_tir.tensor_intrin import x86

    tvm_compat.override_tensor_intrin(VNNI_INTRIN, x86.dot_product_16x4_u8i8i32_desc,
                                      _vnni_impl)
    _registered = True
