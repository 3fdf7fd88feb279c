"""Hand-written schedules for the kernels MetaSchedule has not tuned (no database record).

A plain compile (no tuning) gets vectorised, multi-threaded kernels with the target's int8
dot-product instruction (`layouts.Layout.intrin`), all bit-exact (schedules reorder loops,
never arithmetic):
- packed convolutions and dense layers: register tile of output pixels x one output
  channel block, reduction tensorized with the intrinsic, the requantize epilogue (and a
  fused residual add) computed per tile, rows in parallel (x channel groups when the rows
  alone would not split evenly over the target's cores, `channel_groups`);
- depthwise convolutions: channels innermost as vectors, epilogue per tile; their padding
  is read in the kernel, interior and border apart (`build.PASS_CONFIG`);
- elementwise kernels (padding, residual adds, pooling division, rescales, lookups):
  producers inlined, the flattened loop vectorised and split over threads.
Anything else (reductions such as global pooling and softmax) stays as it is. Applied by
`build.lower` after the tuning database, so tuned kernels win.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tvm
from tvm import s_tir, tirx
from tvm.s_tir import dlight

from edgemobilenet.backends.tvm import (intrin_avx2, intrin_neon, intrin_requant, te_depthwise,
                                        tvm_compat)
from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm.layouts import AVX2, DOTPROD, K_BLOCK, NEON, Layout

PIXEL_TILE = 4        # output pixels per register tile (convolutions)
# per layout with its intrinsic: (output pixels, accumulator vectors) of a register tile;
# VNNI: up to 8 pixels x 3 blocks of 16 channels = 24 of the 32 zmm registers
TILES = {"vnni": (8, 24)}
# register tiles (`Knobs` defaults): aarch64 pixels x 4 channels (2 accumulators each),
# x86 AVX2 pixels x 16 channels (4 ymm accumulators each)
TILE_PIXELS = 8       # pixels per register-tile call (aarch64 and AVX2)
TILE_KBLOCKS = 8      # input-channel blocks of 4 per register-tile call
MIN_PARALLEL = 4096   # elements below which an elementwise kernel stays on one thread


@dataclass(frozen=True)
class Knobs:
    """The tunable choices of these schedules (`knob_space` samples them); the defaults are
    the hand-picked values. Tiles are upper bounds: the largest divisor that fits is used."""
    pixels: int = TILE_PIXELS       # conv register tile: output pixels per intrinsic call
    kblocks: int = TILE_KBLOCKS     # conv register tile: input-channel blocks of 4 per call
    oc_blocks: int = 1              # conv register tile: channel blocks per tile
    unroll_k: bool = False          # conv register tile: unroll the loop over calls
    dw_pixels: int = PIXEL_TILE     # depthwise: output pixels per tile
    dw_vectors: int = 2             # depthwise: int32 vectors of channels per tile


DEFAULT_KNOBS = Knobs()


def _extent(sch: s_tir.Schedule, loop) -> int | None:
    e = sch.get(loop).extent
    return int(e) if isinstance(e, tirx.IntImm) else None


def _tile(n: int, limit: int) -> int:
    """The largest divisor of `n` that is at most `limit`."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _pow2_tile(n: int, limit: int) -> int:
    """The largest power of two dividing `n` that is at most `limit` (vector lanes: odd
    widths such as 24 make LLVM split or scalarise the vectors)."""
    v = 1
    while n % (2 * v) == 0 and 2 * v <= limit:
        v *= 2
    return v


def _blocks(sch: s_tir.Schedule) -> list:
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def _is_reduction(sch: s_tir.Schedule, block) -> bool:
    return any(v.iter_type == tirx.IterVar.CommReduce for v in sch.get(block).iter_vars)


def _epilogue(sch: s_tir.Schedule, anchor) -> Any | None:
    """Inline the anchor's producers; fold the elementwise consumers that follow into the
    first one (a reshape or the like ends the chain and stays a loop nest of its own);
    returns the first consumer."""
    blocks = _blocks(sch)
    i = [sch.get(b).name_hint for b in blocks].index(sch.get(anchor).name_hint)
    for b in blocks[:i]:
        sch.compute_inline(b)
    tail = blocks[i + 1:]
    for b in tail[1:]:
        try:
            sch.reverse_compute_inline(b)
        except s_tir.ScheduleError:
            break
    return tail[0] if tail else None


def _vectorize_inner(sch: s_tir.Schedule, block, lanes: int) -> None:
    """Vectorise the innermost loop of `block` by up to `lanes` (a divisor of its extent)."""
    inner = sch.get_loops(block)[-1]
    n = _extent(sch, inner)
    if n is None or n < 2:
        return
    v = _tile(n, lanes)
    if v > 1:
        sch.vectorize(sch.split(inner, [None, v])[1] if v < n else inner)


def _epilogue_at(sch: s_tir.Schedule, epi, anchor, loop, lanes: int,
                 channels_outer: bool = False) -> None:
    """Compute the epilogue per register tile at `loop`: its channel loop vectorised, its
    other loops unrolled, so every accumulator index is a constant and LLVM keeps the tile
    in registers (a loop left rolled forces the tile through the stack). `channels_outer`:
    the channel vectors outside the pixels, so one vector's per-channel constants are live
    at a time (`te_fixedpoint.PMULDQ` derives several per channel: spilled otherwise)."""
    loop_stmt = sch.get(loop)
    depth = 1 + next(i for i, lp in enumerate(sch.get_loops(anchor))
                     if sch.get(lp).same_as(loop_stmt))
    sch.reverse_compute_at(epi, loop)
    _vectorize_inner(sch, epi, lanes)
    inner = sch.get_loops(epi)[depth:-1]
    if channels_outer and len(inner) >= 2:
        sch.reorder(inner[-1], *inner[:-1])
    for lp in sch.get_loops(epi)[depth:-1]:
        sch.unroll(lp)


def _requant_tile(sch: s_tir.Schedule, epi, loop) -> bool:
    """Compute a `requant` epilogue, plain or with a residual add behind it, per register
    tile at `loop` with the requantize tile (`intrin_requant`: the tile's pixels x
    channels, a multiple of 4 channels); False, the schedule untouched, for any other
    epilogue (input preparation, casts)."""
    def tile(s: s_tir.Schedule, add: int) -> None:
        s.reverse_compute_at(epi, loop)
        p, c = (_extent(s, lp) for lp in s.get_loops(epi)[-2:])
        if p is None or c is None or c % 4:
            raise ValueError("no requantize tile for this shape")
        s.tensorize(s.get_loops(epi)[-2], intrin_requant.intrin(p, c, add))

    for add in (0, intrin_requant.FIRST, intrin_requant.SECOND):
        try:
            tile(sch.copy(), add)
        except (s_tir.ScheduleError, RuntimeError, ValueError):
            continue
        tile(sch, add)
        return True
    return False


def _balance(units: int, threads: int) -> float:
    """Busy fraction of `threads` sharing `units` equal work units the way TVM splits a
    `parallel` loop: one chunk of ceil(units / threads) per thread, all waiting for the
    longest."""
    return units / (threads * -(-units // threads))


def channel_groups(rows: int, blocks: int, threads: int) -> int:
    """Groups of a convolution's `blocks` channel tiles that run over threads with its
    `rows` (the parallel loop is rows x groups): the divisor of `blocks` that balances
    `threads` best, the fewest groups among equals (1: rows alone, as 14 rows on 2
    threads; 7 rows on 2 threads take 2 groups, 14 units). Groups inside rows: with the
    groups outside, two threads write the same pixels' channels at once (measured slower)."""
    return max((d for d in range(1, blocks + 1) if blocks % d == 0),
               key=lambda d: (_balance(rows * d, threads), -d))


def _packed(sch: s_tir.Schedule, lay: Layout, intrin: str | None, lanes: int,
            tile_kind: str | None, knobs: Knobs, channels_outer: bool = False,
            threads: int = 1) -> None:
    block = sch.get_sblock(sch.get(_anchor(sch)).name_hint)
    epi = _epilogue(sch, block)
    loops = sch.get_loops(block)
    if len(loops) == 7 and tile_kind is not None and _extent(sch, loops[-1]) > K_BLOCK:
        _packed_tile(sch, block, epi, loops, tile_kind, lanes, knobs)
        return
    if len(loops) == 3 and tile_kind is not None:
        _dense_tile(sch, block, epi, loops, tile_kind, lanes, knobs)
        return
    if len(loops) == 7:                       # conv: n, oh, ow, oc, ry, rx, rc
        n, oh, ow, oc, ry, rx, rc = loops
        pix, blocks = TILES.get(lay.name, (PIXEL_TILE, 1)) if intrin else (PIXEL_TILE, 1)
        owo, owi = sch.split(ow, [None, _tile(_extent(sch, ow), pix)])
        nb = _tile(_extent(sch, oc) // lay.oc_block, max(1, blocks // _extent(sch, owi)))
        oco, ocb, oci = sch.split(oc, [None, nb, lay.oc_block])
        rco, rci = sch.split(rc, [None, K_BLOCK])
        groups = channel_groups(_extent(sch, oh), _extent(sch, oco), threads)
        ocg, oco = sch.split(oco, [groups, None])
        sch.reorder(n, oh, ocg, owo, oco, ry, rx, rco, owi, ocb, oci, rci)
        sch.parallel(sch.fuse(n, oh, ocg))
        sch.unroll(ocb)
        first_r = ry
    else:                                     # dense: i, j, k
        i, j, k = loops
        oco, oci = sch.split(j, [None, lay.oc_block])
        rco, rci = sch.split(k, [None, K_BLOCK])
        sch.reorder(i, oco, rco, oci, rci)
        sch.parallel(oco)
        first_r, owi = rco, None
    if epi is not None and not (tile_kind == "sdot" and _requant_tile(sch, epi, oco)):
        _epilogue_at(sch, epi, block, oco, lanes, channels_outer)
    if intrin is None:   # channel block as vectors, the 4 reduction lanes unrolled
        sch.reorder(rci, oci)
        sch.unroll(rci)
        sch.vectorize(oci)
    if owi is not None:
        sch.unroll(owi)
    init = sch.decompose_reduction(block, first_r)
    _vectorize_inner(sch, init, lanes)
    if intrin is not None:
        sch.tensorize(oci, intrin)


def _packed_tile(sch: s_tir.Schedule, block, epi, loops: list, kind: str, lanes: int,
                 knobs: Knobs) -> None:
    """Conv: P pixels x one channel block x KB input-channel blocks per call of a
    register-tile intrinsic (`intrin_neon` on aarch64, `intrin_avx2` on x86 without VNNI),
    OB such calls (channel blocks) per step of the reduction loops."""
    n, oh, ow, oc, ry, rx, rc = loops
    p = _tile(_extent(sch, ow), knobs.pixels)
    owo, owi = sch.split(ow, [None, p])
    block_oc = tile_oc_block(kind)
    ob = _tile(_extent(sch, oc) // block_oc, knobs.oc_blocks)
    oco, ocb, oci = sch.split(oc, [None, ob, block_oc])
    kb = _tile(_extent(sch, rc) // K_BLOCK, knobs.kblocks)
    rco, rcb, rci = sch.split(rc, [None, kb, K_BLOCK])
    sch.reorder(n, oh, owo, oco, ry, rx, rco, ocb, owi, rcb, oci, rci)
    sch.parallel(sch.fuse(n, oh))
    if ob > 1:
        sch.unroll(ocb)
    if knobs.unroll_k:
        sch.unroll(rco)
    if epi is not None and not (kind in ("sdot", "neon") and _requant_tile(sch, epi, oco)):
        _epilogue_at(sch, epi, block, oco, lanes)
    init = sch.decompose_reduction(block, ry)
    _vectorize_inner(sch, init, lanes)
    sch.tensorize(owi, intrin_avx2.intrin(p, kb) if kind == "avx2"
                  else intrin_neon.intrin(p, kb, kind))


def _dense_tile(sch: s_tir.Schedule, block, epi, loops: list, kind: str, lanes: int,
                knobs: Knobs) -> None:
    """Dense: the register tile's one-pixel form (one row x one channel block x KB
    input-channel blocks per call), rows and channel blocks over threads."""
    i, j, k = loops
    io, ii = sch.split(i, [None, 1])
    jo, ji = sch.split(j, [None, tile_oc_block(kind)])
    kb = _tile(_extent(sch, k) // K_BLOCK, knobs.kblocks)
    ko, kbi, ki = sch.split(k, [None, kb, K_BLOCK])
    sch.reorder(io, jo, ko, ii, kbi, ji, ki)
    outer = sch.fuse(io, jo)
    sch.parallel(outer)
    if epi is not None:
        sch.reverse_compute_at(epi, outer)
        _vectorize_inner(sch, epi, lanes)
    init = sch.decompose_reduction(block, ko)
    _vectorize_inner(sch, init, lanes)
    sch.tensorize(ii, intrin_avx2.intrin(1, kb) if kind == "avx2"
                  else intrin_neon.intrin(1, kb, kind))


def _depthwise(sch: s_tir.Schedule, lanes: int, knobs: Knobs) -> None:
    block = sch.get_sblock(te_depthwise.BLOCK)
    epi = _epilogue(sch, block)
    n, oh, ow, c, ry, rx = sch.get_loops(block)
    co, ci = sch.split(c, [None, _pow2_tile(_extent(sch, c), knobs.dw_vectors * lanes)])
    owo, owi = sch.split(ow, [None, _tile(_extent(sch, ow), knobs.dw_pixels)])
    sch.reorder(n, oh, owo, co, ry, rx, owi, ci)
    sch.parallel(sch.fuse(n, oh))
    if epi is not None:
        _epilogue_at(sch, epi, block, co, lanes)
    # owi stays a loop (LLVM unrolls it): marked unrolled, the border's copies of variable
    # extent (LoopPartition) would stop the build
    sch.vectorize(ci)
    init = sch.decompose_reduction(block, ry)
    _vectorize_inner(sch, init, 2 * lanes)


_LLVM_INTRIN = tvm.ir.Op.get("tirx.call_llvm_pure_intrin")


def _calls_llvm_intrin(e) -> bool:
    if isinstance(e, tvm.ir.expr.Call) and e.op.same_as(_LLVM_INTRIN):
        return True
    kids = [getattr(e, f, None) for f in ("a", "b", "value", "condition", "true_value",
                                           "false_value")] + list(getattr(e, "args", []))
    return any(isinstance(k, tvm.ir.expr.Expr) and _calls_llvm_intrin(k) for k in kids)


def _vector_limit(sch: s_tir.Schedule, block, lanes: int) -> int:
    """Lanes of an elementwise kernel's vectors: two int32 vectors' worth, or one when it
    calls an LLVM target intrinsic (`te_fixedpoint`'s sqrdmulh): LLVM does not split
    those, and a wider vector aborts its code generation."""
    return lanes if _calls_llvm_intrin(sch.get(block).body.value) else 2 * lanes


def _elementwise(sch: s_tir.Schedule, lanes: int) -> None:
    *producers, last = _blocks(sch)
    for b in producers:
        sch.compute_inline(b)
    wide = _vector_limit(sch, last, lanes)
    loops = sch.get_loops(last)
    c = _extent(sch, loops[-1])
    v = _pow2_tile(c, wide) if c else 1
    if v > 1 and len(loops) > 1:   # channels as vectors: no index arithmetic per lane
        *outer, inner = loops
        if v < c:
            io, inner = sch.split(inner, [None, v])
            outer.append(io)
        sch.vectorize(inner)
        ext = [_extent(sch, lp) for lp in outer]
        # the innermost outer loop stays a loop of its own (its index steps by a constant;
        # fused, every vector divides its index into coordinates); the rest over threads
        lead = outer[:-1] if len(outer) > 2 else outer
        fused = sch.fuse(*lead) if len(lead) > 1 else lead[0]
        if None not in ext and math.prod(ext) * v >= MIN_PARALLEL:
            sch.parallel(fused)
        return
    fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
    n = _extent(sch, fused)
    if n is None:
        return
    v = _tile(n, wide)
    outer, inner = sch.split(fused, [None, v]) if 1 < v < n else (None, fused)
    if v > 1:
        sch.vectorize(inner)
    if outer is not None and n >= MIN_PARALLEL:
        sch.parallel(outer)


def _channel_sum(sch: s_tir.Schedule, anchor, lanes: int) -> bool:
    """A plain sum (`acc + x`) over the last axes with channels the innermost spatial axis
    (global pooling), elementwise producers inlined: per vector of channels, the reduction loops inside (the accumulator stays in
    registers), channels as vectors. False (schedule untouched) for other reductions."""
    blocks = _blocks(sch)
    value = sch.get(anchor).body.value
    kinds = [v.iter_type for v in sch.get(anchor).iter_vars]
    ns = kinds.index(tirx.IterVar.CommReduce)
    if not sch.get(blocks[-1]).same_as(sch.get(anchor)) or any(_is_reduction(sch, b) for b in blocks[:-1]) \
            or any(k != tirx.IterVar.CommReduce for k in kinds[ns:]) \
            or not (isinstance(value, tirx.Add) and isinstance(value.b, tvm.ir.expr.TensorLoad)):
        return False
    loops = sch.get_loops(anchor)
    c = _extent(sch, loops[ns - 1])
    v = _pow2_tile(c, 2 * lanes) if c else 1
    if v < 2:
        return False
    for b in blocks[:-1]:
        sch.compute_inline(b)
    loops = sch.get_loops(anchor)
    co, ci = sch.split(loops[ns - 1], [None, v])
    sch.reorder(*loops[:ns - 1], co, *loops[ns:], ci)
    sch.vectorize(ci)
    init = sch.decompose_reduction(anchor, loops[ns])
    _vectorize_inner(sch, init, v)
    return True


def hand_written(func: tirx.PrimFunc) -> bool:
    """A kernel written as loops (`intrin_neon.lut_stmt` via `te.extern`): nothing to
    schedule (no root block of its own)."""
    return func.body.block.name_hint != "root"


def _anchor(sch: s_tir.Schedule):
    for b in _blocks(sch):
        if _is_reduction(sch, b):
            return b
    return None


def _lanes(target: tvm.target.Target) -> int:
    """int32 lanes of the target's widest integer vectors."""
    from tvm.target.codegen import target_has_features

    if str(target.attrs.get("mtriple", "")).startswith("aarch64"):
        return 4
    if target_has_features("avx512bw", target):
        return 16
    return 8 if target_has_features("avx2", target) else 4


def _threads(target: tvm.target.Target) -> int:
    """The threads a kernel's parallel loop is split over: the target's cores (1 when it
    does not say)."""
    return max(1, int(target.attrs.get("num-cores", 1)))


def rule(lay: Layout | None, tensorize: bool, narrow_weights: bool = False,
         knobs: Knobs = DEFAULT_KNOBS) -> dlight.base.ScheduleRule:
    """The dlight rule that schedules one kernel (None: leave it to the generic lowering).

    `tensorize`: use the layout's intrinsic (only when the layout is the target's own);
    `narrow_weights`: no packed weight is -128 (`intrin_neon.narrow_weights`).
    """
    return dlight.base.ScheduleRule.from_callable("edgemb_default")(
        scheduler(lay, tensorize, narrow_weights, knobs))


def tile_kind(lay: Layout | None, tensorize: bool, narrow_weights: bool) -> str | None:
    """The register tile the packed convolutions use (None: none)."""
    if tensorize and lay is DOTPROD:
        return "sdot"
    if tensorize and lay is AVX2:
        return "avx2"
    return "neon" if tensorize and lay is NEON and narrow_weights else None


def tile_oc_block(kind: str) -> int:
    """Output channels of a register tile's weight block."""
    return intrin_avx2.OC if kind == "avx2" else 4


def scheduler(lay: Layout | None, tensorize: bool, narrow_weights: bool = False,
              knobs: Knobs = DEFAULT_KNOBS):
    """`f(func, target, tunable) -> Schedule | None`: `rule`'s function, for `knob_space`."""
    intrin = lay.intrin if lay is not None and tensorize else None
    if intrin is not None:
        tvm_compat.cpu_tensor_intrins()   # registers the NEON / sdot intrinsics
    kind = tile_kind(lay, tensorize, narrow_weights)

    def apply(func: tirx.PrimFunc, target: tvm.target.Target, _tunable: bool):
        if hand_written(func):
            return None
        sch = s_tir.Schedule(func)
        lanes = _lanes(target)
        anchor = _anchor(sch)
        try:
            if anchor is None:
                _elementwise(sch, lanes)
            elif sch.get(anchor).name_hint == te_depthwise.BLOCK:
                _depthwise(sch, lanes, knobs)
            elif lay is not None and sch.get(anchor).name_hint in ("conv_packed", "dense_packed"):
                _packed(sch, lay, intrin, lanes, kind, knobs,
                        channels_outer=tfp.form(target) == tfp.PMULDQ,
                        threads=_threads(target))
            elif not _channel_sum(sch, anchor, lanes):
                return None
        except (s_tir.ScheduleError, RuntimeError, ValueError):  # does not fit: generic
            return None
        return sch

    return apply


def apply(mod: tvm.IRModule, target: tvm.target.Target, lay: Layout | None,
          tensorize: bool) -> tvm.IRModule:
    """Schedule every kernel of `mod` that is not scheduled yet (tuned ones keep theirs)."""
    narrow = lay is NEON and tensorize and intrin_neon.narrow_weights(mod)
    with target:
        return dlight.ApplyDefaultSchedule(rule(lay, tensorize, narrow))(mod)
