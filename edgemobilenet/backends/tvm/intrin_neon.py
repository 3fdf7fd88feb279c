"""aarch64 register-tile intrinsics for the packed convolutions (`layouts.NEON`, `DOTPROD`).

One call computes `C[p, i] += sum_{kb, k} A[p, kb, k] * B[kb, i, k]` for P output pixels,
the 4 output channels of a weight block and KB blocks of 4 input channels: the weights'
KB vectors are loaded once for all P pixels and the P accumulators stay in registers for
the whole call (TVM's shipped intrinsics cover one pixel and one block of 4, so every call
reloads and stores its accumulator).
A pixel's activations are loaded 16 bytes (4 k-blocks) at a time and each k-block's 4 bytes
broadcast from a lane (`dup`; `sdot` by element), not one `ld1r` per k-block (which has no
immediate offset: an address add each).
- `neon`: two k-blocks per step as `smull` + `smlal` on the low halves and `smull2` +
  `smlal2` on the high halves (int16 sums of two products), then `sadalp` into int32
  lanes, `addp` at the end: 8 instructions per 32 MACs of a pixel with the broadcasts.
  The int16 sum of two products is exact only when no weight is -128
  (|sum| <= 2 * 128 * 127 < 2^15): `narrow_weights` checks that.
  With 8 k-blocks per call (`TRANSPOSED_KBLOCKS`) the weights are transposed once per
  call instead (`ld4`: 16 weights of one channel per vector) and each pixel's 16 bytes
  are used as loaded: 12 instructions per 64 MACs, no broadcasts (`_mlal_groups`).
- `sdot`: one `sdot` by element per k-block and pixel.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, tirx
from tvm.s_tir import TensorIntrin
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder.tirx import prim_func as build_prim_func

from edgemobilenet.backends.tvm import tile_intrins

_registered: set[str] = set()
# `neon` calls of this many k-blocks (the most, `default_schedules.TILE_KBLOCKS`) use
# transposed weights: fewer (4 or 6 k-blocks, one call per tile) measured slower (the
# transpose and 3 `addp` per pixel outweigh the saved broadcasts)
TRANSPOSED_KBLOCKS = 8


def neon(name: str, dtype: str, *args):
    """A call of the LLVM intrinsic `llvm.aarch64.neon.<name>` (e.g. "smull.v8i16")."""
    return T.call_llvm_pure_intrin(T.llvm_lookup_intrinsic_id(f"llvm.aarch64.neon.{name}"),
                                   *args, dtype=dtype)


def tile_desc(p_: int, kb_: int, oc: int = 4):
    """`C[p, i] += sum_{kb, k} A[p, 4 kb + k] * B[kb, i, k]`: P pixels, `oc` output
    channels, KB blocks of 4 input channels (also `intrin_avx2`'s, with 16 channels).
    One pixel (1x1 maps such as squeeze-excite, dense layers): its loop of extent 1 binds
    no block axis, as in the blocks it is matched against."""
    if p_ == 1:
        return _one_pixel_desc(kb_, oc)

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (p_, kb_ * 4), "int8", offset_factor=1)
        B = T.match_buffer(b, (kb_, oc, 4), "int8", offset_factor=1)
        C = T.match_buffer(c, (p_, oc), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0:p_, 0:oc], A[0:p_, 0:kb_ * 4], B[0:kb_, 0:oc, 0:4])
            T.writes(C[0:p_, 0:oc])
            for p, kb, i, k in T.grid(p_, kb_, oc, 4):
                with T.sblock("update"):
                    vp, vi = T.axis.remap("SS", [p, i])
                    vk = T.axis.reduce(kb_ * 4, kb * 4 + k)
                    C[vp, vi] = C[vp, vi] + T.cast(A[vp, vk], "int32") * \
                        T.cast(B[vk // 4, vi, vk % 4], "int32")
    return desc


def _one_pixel_desc(kb_: int, oc: int):
    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (1, kb_ * 4), "int8", offset_factor=1)
        B = T.match_buffer(b, (kb_, oc, 4), "int8", offset_factor=1)
        C = T.match_buffer(c, (1, oc), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0, 0:oc], A[0, 0:kb_ * 4], B[0:kb_, 0:oc, 0:4])
            T.writes(C[0, 0:oc])
            for _p, kb, i, k in T.grid(1, kb_, oc, 4):
                with T.sblock("update"):
                    vi = T.axis.spatial(oc, i)
                    vk = T.axis.reduce(kb_ * 4, kb * 4 + k)
                    C[0, vi] = C[0, vi] + T.cast(A[0, vk], "int32") * \
                        T.cast(B[vk // 4, vi, vk % 4], "int32")
    return desc


def _impl(p_: int, kb_: int, kind: str):
    with IRBuilder() as ib:
        with build_prim_func():
            a, b, c = T.arg("a", T.handle()), T.arg("b", T.handle()), T.arg("c", T.handle())
            A = T.match_buffer(a, (p_, kb_ * 4), "int8", offset_factor=1,
                               strides=[T.int32(), 1])
            B = T.match_buffer(b, (kb_, 4, 4), "int8", offset_factor=1,
                               strides=[T.int32(), 4, 1])
            C = T.match_buffer(c, (p_, 4), "int32", offset_factor=1, strides=[T.int32(), 1])
            with T.sblock("root"):
                T.reads(C[0:p_, 0:4], A[0:p_, 0:kb_ * 4], B[0:kb_, 0:4, 0:4])
                T.writes(C[0:p_, 0:4])
                bv = [T.bind(B.vload([kb, 0, 0], "int8x16")) for kb in range(kb_)]
                wt = _transposed(bv) if kind == "neon" and kb_ == TRANSPOSED_KBLOCKS else []
                for p in range(p_):
                    a16 = _activations(A, p, kb_)
                    acc = C.vload([p, 0], "int32x4")
                    if kind == "sdot":
                        for kb in range(kb_):
                            acc = neon("sdot.v4i32.v16i8", "int32x4", acc, bv[kb], a16[kb])
                    elif wt:
                        acc = acc + _mlal_groups(A, p, wt)
                    else:
                        acc = acc + _mlal(a16, bv)
                    T.buffer_store(C, acc, [p, T.ramp(0, 1, 4)])
    return ib.get()


def _activations(A, p: int, kb_: int) -> list:
    """Pixel `p`'s k-blocks, each as int8x16 (its 4 bytes in every 32-bit lane): whole
    groups of 4 k-blocks are one 16-byte load whose lanes are broadcast (`dup` by lane, or
    `sdot` by element), the rest one 4-byte load each (`ld1r` needs its address computed)."""
    out = []
    for kb in range(kb_):
        if kb % 4 == 0 and kb + 4 <= kb_:
            words = T.reinterpret(A.vload([p, kb * 4], "int8x16"), dtype="int32x4")
        if kb < kb_ // 4 * 4:
            lane = tirx.Shuffle([words], [kb % 4] * 4)
        else:
            lane = T.broadcast(T.reinterpret(A.vload([p, kb * 4], "int8x4"), dtype="int32"), 4)
        out.append(T.reinterpret(lane, dtype="int8x16"))
    return out


def _transposed(bv: list) -> list:
    """Per group of 4 k-blocks, per output channel: its 16 weights of the group as one
    int8x16 (a 4x4 transpose of 32-bit words, `ld4`, once per call for all pixels)."""
    groups = []
    for g in range(len(bv) // 4):
        words = [T.reinterpret(bv[4 * g + j], dtype="int32x4") for j in range(4)]
        groups.append([T.bind(T.reinterpret(tirx.Shuffle(words, [oc, 4 + oc, 8 + oc, 12 + oc]),
                                            dtype="int8x16")) for oc in range(4)])
    return groups


def _mlal_groups(A, p: int, wt: list):
    """int32x4 [oc0..oc3] of groups of 4 k-blocks (`_transposed`): per channel `smull` of the
    pixel's 16 bytes as loaded with the channel's transposed weights, `smlal2` of the high
    halves (int16 sums of two products), `sadalp` per channel, `addp` twice at the end:
    12 instructions per 64 MACs, no broadcasts."""
    acc = [None] * 4
    for g, w in enumerate(wt):
        a = A.vload([p, 16 * g], "int8x16")
        for oc in range(4):
            t = neon("smull.v8i16", "int16x8", T.vectorlow(a, dtype="int8x8"),
                      T.vectorlow(w[oc], dtype="int8x8")) + \
                neon("smull.v8i16", "int16x8", T.vectorhigh(a, dtype="int8x8"),
                      T.vectorhigh(w[oc], dtype="int8x8"))
            wide = neon("saddlp.v4i32.v8i16", "int32x4", t)
            acc[oc] = wide if acc[oc] is None else acc[oc] + wide
    return neon("addp.v4i32", "int32x4", neon("addp.v4i32", "int32x4", acc[0], acc[1]),
                 neon("addp.v4i32", "int32x4", acc[2], acc[3]))


def _mlal(a16: list, bv: list):
    """int32x4 [oc0..oc3] of KB k-blocks: pairs of int16 products, pairwise widened."""
    halves = []
    for half in (T.vectorlow, T.vectorhigh):
        s = None
        for j in range(0, len(bv), 2):
            t = None
            for kb in range(j, min(j + 2, len(bv))):
                prod = neon("smull.v8i16", "int16x8", half(a16[kb], dtype="int8x8"),
                             half(bv[kb], dtype="int8x8"))
                t = prod if t is None else t + prod
            w = neon("saddlp.v4i32.v8i16", "int32x4", t)
            s = w if s is None else s + w
        halves.append(s)
    return neon("addp.v4i32", "int32x4", *halves)


def intrin(pixels: int, kblocks: int, kind: str) -> str:
    """The registered intrinsic's name (kind "neon" or "sdot"); registers it once."""
    name = tile_intrins.name(kind, pixels, 4, kblocks)
    if name not in _registered:
        TensorIntrin.register(name, tile_desc(pixels, kblocks), _impl(pixels, kblocks, kind))
        _registered.add(name)
    return name


def narrow_weights(mod: tvm.IRModule) -> bool:
    """No packed int8 weight of `mod`'s main is -128 (the `neon` kind's int16 pairs are exact)."""
    ok = True

    def visit(e) -> None:
        nonlocal ok
        v = getattr(e, "value", None) if isinstance(e, tvm.ir.expr.Constant) else None
        if hasattr(v, "numpy") and str(v.dtype) == "int8" and len(v.shape) in (4, 6) \
                and int(v.shape[-1]) == 4:
            ok = ok and bool(v.numpy().min() > -128)

    relax.analysis.post_order_visit(mod["main"].body, visit)
    return ok


def lut_lanes(shape) -> int:
    """Bytes per `tbl` lookup of `lut_stmt` for an int8 tensor (16 or 8; 0: not NHWC with
    channels a multiple of 8, no NEON lookup)."""
    c = int(shape[-1])
    return 0 if len(shape) != 4 else 16 if c % 16 == 0 else 8 if c % 8 == 0 else 0


def lut_stmt(x, table, y):
    """`y = table[x + 128]` over an NHWC int8 buffer (`lut_lanes` > 0) as NEON table
    lookups: the 256-byte table in 16 registers, loaded once per row; per `lanes` bytes `tbl` on the
    first 64 table bytes and `tbx` on each next 64 (an index beyond a 4-register table
    leaves the lane as it is), the index `x ^ 0x80` lowered by 64 between them; rows
    over threads."""
    n, h, w, c = (int(v) for v in x.shape)
    lanes = lut_lanes(x.shape)
    vec, suffix = f"int8x{lanes}", f"v{lanes}i8"
    with IRBuilder() as ib:
        with T.parallel(0, n * h) as row:
            tab = [T.bind(table.vload([16 * r], "int8x16")) for r in range(16)]
            with T.serial(0, w) as j:
                with T.serial(0, c // lanes) as k:
                    at = [row // h, row % h, j, k * lanes]
                    idx = x.vload(at, vec) ^ T.broadcast(T.int8(-128), lanes)
                    r = neon(f"tbl4.{suffix}", vec, *tab[0:4], idx)
                    for q in range(1, 4):
                        idx = idx - T.broadcast(T.int8(64), lanes)
                        r = neon(f"tbx4.{suffix}", vec, r, *tab[4 * q:4 * q + 4], idx)
                    T.buffer_store(y, r, [row // h, row % h, j, T.ramp(k * lanes, 1, lanes)])
    return ib.get()
