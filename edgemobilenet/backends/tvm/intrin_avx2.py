"""x86 AVX2 register-tile intrinsic for the packed convolutions (`layouts.AVX2`, no VNNI).

One call computes `C[p, i] += sum_{kb, k} A[p, kb, k] * B[kb, i, k]` for P output pixels,
the 16 output channels of a weight block and KB blocks of 4 input channels, exactly:
operands are sign-extended to int16 (`vpmovsxbw`) and multiplied with `vpmaddwd`, whose
int32 lanes hold `a0*b0 + a1*b1` (no saturation, unlike `vpmaddubsw`). With activations
broadcast as `[a0 a1 a2 a3] x 4`, one `vpmaddwd` on the 4 output channels x 4 inputs of a
16-byte weight row gives each channel's two pair sums; the call keeps 4 such int32x8
accumulators per pixel in registers and folds the pairs once at its end (`vphaddd`, one
lane permutation): 4 `vpmaddwd` + 4 `vpaddd` per 64 MACs of a pixel.
"""
from __future__ import annotations

from tvm.s_tir import TensorIntrin
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder.tirx import prim_func as build_prim_func

from edgemobilenet.backends.tvm import tile_intrins
from edgemobilenet.backends.tvm.intrin_neon import tile_desc

OC = 16               # output channels per weight block (`layouts.AVX2.oc_block`)
_registered: set[str] = set()
# vphaddd of the accumulators of channels 0-3 and 4-7 leaves [0 1 4 5 | 2 3 6 7]
_UNPERMUTE = [0, 1, 4, 5, 2, 3, 6, 7]


def _x86(name: str, dtype: str, *args):
    return T.call_llvm_pure_intrin(T.llvm_lookup_intrinsic_id(f"llvm.x86.avx2.{name}"),
                                   *args, dtype=dtype)


def _impl(p_: int, kb_: int):
    with IRBuilder() as ib:
        with build_prim_func():
            a, b, c = T.arg("a", T.handle()), T.arg("b", T.handle()), T.arg("c", T.handle())
            A = T.match_buffer(a, (p_, kb_ * 4), "int8", offset_factor=1,
                               strides=[T.int32(), 1])
            B = T.match_buffer(b, (kb_, OC, 4), "int8", offset_factor=1,
                               strides=[T.int32(), 4, 1])
            C = T.match_buffer(c, (p_, OC), "int32", offset_factor=1, strides=[T.int32(), 1])
            with T.sblock("root"):
                T.reads(C[0:p_, 0:OC], A[0:p_, 0:kb_ * 4], B[0:kb_, 0:OC, 0:4])
                T.writes(C[0:p_, 0:OC])
                acc = [[None] * 4 for _ in range(p_)]
                for kb in range(kb_):
                    a16 = [T.bind(T.reinterpret(T.broadcast(T.reinterpret(
                        T.cast(A.vload([p, kb * 4], "int8x4"), "int16x4"), dtype="int64"), 4),
                        dtype="int16x16")) for p in range(p_)]
                    for q in range(4):
                        w16 = T.bind(T.cast(B.vload([kb, 4 * q, 0], "int8x16"), "int16x16"))
                        for p in range(p_):
                            prod = _x86("pmadd.wd", "int32x8", a16[p], w16)
                            acc[p][q] = prod if acc[p][q] is None else acc[p][q] + prod
                for p in range(p_):
                    for h in range(2):
                        pairs = _x86("phadd.d", "int32x8", acc[p][2 * h], acc[p][2 * h + 1])
                        s = T.Shuffle([pairs], _UNPERMUTE)
                        T.buffer_store(C, C.vload([p, 8 * h], "int32x8") + s,
                                       [p, T.ramp(8 * h, 1, 8)])
    return ib.get()


def intrin(pixels: int, kblocks: int) -> str:
    """The registered intrinsic's name; registers it once."""
    name = tile_intrins.name("avx2", pixels, OC, kblocks)
    if name not in _registered:
        TensorIntrin.register(name, tile_desc(pixels, kblocks, OC), _impl(pixels, kblocks))
        _registered.add(name)
    return name
