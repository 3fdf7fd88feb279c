"""aarch64 requantize tile: a packed convolution's `requant` epilogue over P pixels x C
channels of its register tile (`te_fixedpoint.requant_channels`, `SQRDMULH` form), written
with saturating narrowing instead of the vectorised TE expression; plain, or with a
residual add (`te_fixedpoint.qadd`) fused behind it.

Per int32x4: + bias, << left, `sqrdmulh`, then the rounding shift by `right` as
`srshl(q + ((q & -right) >> 31), -right)` (4 instructions, not 5: adding -1 to a negative
`q` turns `srshl`'s round-half-up into round-half-away-from-zero; no overflow, since
`sqrdmulh` with m >= 0 never returns INT32_MIN). Per 16 outputs: `sqxtn`/`sqxtn2` to int16,
`sqadd` of the zero point, `sqxtn`/`sqxtn2` to int8, one `smin` and one `smax` on int8x16
(the TE form clamps and narrows each int32x4: about 5 instructions per 4 outputs more).
Exact: saturating to int16 before adding a zero point in [-128, 127], then to int8, then
clamping to [lo, hi] within int8 equals clamping the int32 sum (the clamp bounds and zero
point of an int8 output are int8 values).

With an add the requantized tile is clamped in int32 (the TE form's int8 value), the other
input loaded 16, 8 or 4 bytes at a time and widened minus its zero point (`ssubl`, `sxtl`),
each input and the sum rescaled as above, the sum then narrowed and clamped as above
(MobileNetV2's adds on the A76: about 7 instructions per output fewer than the TE form).
"""
from __future__ import annotations

import tvm
from tvm import s_tir, te, tirx
from tvm.s_tir import SBlock, SBlockRealize, TensorIntrin
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder.tirx import prim_func as build_prim_func

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm import tile_intrins
from edgemobilenet.backends.tvm.intrin_neon import neon

KIND = "requant"
FIRST, SECOND = 1, 2   # `intrin`'s `add`: the tile is the qadd's first or second input
ADD_PARAMS = 18        # `te_fixedpoint.qadd`'s parameters
_registered: set[str] = set()


def _buffers(p_: int, oc: int, add: int):
    kw = {"offset_factor": 1}
    names = ["acc", "bias", "m", "left", "right", "half", "q"] + (["other", "p"] if add else [])
    h = {n: T.arg(n, T.handle()) for n in [*names, "out"]}
    acc = T.match_buffer(h["acc"], (p_, oc), "int32", strides=[T.int32(), 1], **kw)
    cols = [T.match_buffer(h[n], (oc,), "int32", **kw) for n in names[1:6]]
    q = T.match_buffer(h["q"], (3,), "int32", **kw)
    extra = [T.match_buffer(h["other"], (p_, oc), "int8", strides=[T.int32(), 1], **kw),
             T.match_buffer(h["p"], (ADD_PARAMS,), "int32", **kw)] if add else []
    out = T.match_buffer(h["out"], (p_, oc), "int8", strides=[T.int32(), 1], **kw)
    return acc, cols, q, extra, out


def _desc(p_: int, oc: int, add: int):
    """`requant_channels`' block over a (P, C) tile (with `add`, the `qadd` behind it
    inlined as `default_schedules._epilogue` inlines it), made by the same TE expressions
    as the kernels it is matched against; its root block reads and writes the whole
    buffers, in the inner block's order."""
    acc = te.placeholder((p_, oc), "int32", name="acc")
    cols = [te.placeholder((oc,), "int32", name=n) for n in ("bias", "m", "left", "right", "half")]
    q = te.placeholder((3,), "int32", name="q")
    y = tfp.requant_channels(acc, *cols, q, form=tfp.SQRDMULH)
    extra = []
    if add:
        extra = [te.placeholder((p_, oc), "int8", name="other"),
                 te.placeholder((ADD_PARAMS,), "int32", name="p")]
        pair = (y, extra[0]) if add == FIRST else (extra[0], y)
        y = tfp.qadd(*pair, extra[1], form=tfp.SQRDMULH)
    sch = s_tir.Schedule(te.create_prim_func([acc, *cols, q, *extra, y]))
    if add:
        sch.reverse_compute_inline(sch.get_sblock("add"))
    f = sch.mod["main"]
    req = sch.get_sblock("requant")
    inner = sch.get(req)

    def whole(regions):
        return [tvm.tirx.BufferRegion(r.source, [tvm.ir.Range(0, n) for n in r.source.shape])
                for r in regions]
    block = SBlock([], whole(inner.reads), whole(inner.writes), "root",
                   sch.get(sch.get_loops(req)[0]))
    return f.with_body(SBlockRealize([], True, block))


def _impl(p_: int, oc: int, add: int):
    nb = oc // 4
    with IRBuilder() as ib:
        with build_prim_func():
            acc, cols, q, extra, out = _buffers(p_, oc, add)
            with T.sblock("root"):
                T.reads(acc[0:p_, 0:oc], *(c[0:oc] for c in cols), q[0:3],
                        *([extra[0][0:p_, 0:oc], extra[1][0:ADD_PARAMS]] if add else []))
                T.writes(out[0:p_, 0:oc])
                bias, m, left, right = ([T.bind(c.vload([4 * j], "int32x4")) for j in range(nb)]
                                        for c in cols[:4])
                negr = [T.bind(T.broadcast(T.int32(0), 4) - r) for r in right]
                rows = []   # rounded int32x4 per (pixel, channel block)
                for p in range(p_):
                    for j in range(nb):
                        a = (acc.vload([p, 4 * j], "int32x4") + bias[j]) << left[j]
                        s = neon("sqrdmulh.v4i32", "int32x4", a, m[j])
                        rows.append(T.bind(_round_shift(s, negr[j])))
                if add:
                    rows = _add(rows, q, *extra, add, nb)
                    pa = extra[1]
                    _narrow_store(rows, pa[2], pa[3], pa[4], out, nb)
                else:
                    _narrow_store(rows, q[0], q[1], q[2], out, nb)
    return ib.get()


def _add(rows: list, q, other, pa, add: int, nb: int) -> list:
    """`qadd` of the requantized tile (int32x4 `rows` before their zero point and clamp)
    and `other` (`tfp.qadd`'s parameters `pa`): the sums rescaled, as int32x4 per row,
    before the output's zero point and clamp. An input's two left shifts are one `sshl` by
    their sum (each is below 32: `sshl` gives 0 from 32 on, as the two shifts give)."""
    four = [T.bind(T.broadcast(v, 4)) for v in (q[0], q[1], q[2])]
    mine, theirs = (0, 1) if add == FIRST else (1, 0)   # input index of the tile, other

    def scaled(k: int, x):
        """`mbqm_at(x << pa[5], pa, k)` of an input (k = 6 + 4 * its index)."""
        return _mbqm(pa, k, x, pa[5] + pa[k + 1])

    zp_mine = T.bind(T.broadcast(pa[mine], 4))
    out = []
    for y, o in zip(rows, _other_rows(other, pa[theirs], len(rows), nb)):
        clamped = T.max(T.min(y + four[0], four[2]), four[1])
        s = scaled(6 + 4 * mine, clamped - zp_mine) + scaled(6 + 4 * theirs, o)
        out.append(T.bind(_mbqm(pa, 14, s, pa[15])))
    return out


def _mbqm(pa, k: int, x, left):
    """`te_fixedpoint.mbqm` (`SQRDMULH` form) of int32x4 `x` by the scalar `scalar_qparams`
    at `pa[k:k + 4]`, shifted left by `left` first (`sshl`)."""
    a = neon("sshl.v4i32", "int32x4", x, T.broadcast(left, 4))
    s = neon("sqrdmulh.v4i32", "int32x4", a, T.broadcast(pa[k], 4))
    return _round_shift(s, T.broadcast(T.int32(0) - pa[k + 2], 4))


def _round_shift(s, negr):
    """`te_fixedpoint.round_shift` of int32x4 `s` (a `sqrdmulh` result) by minus `negr`."""
    return neon("srshl.v4i32", "int32x4", s + ((s & negr) >> T.broadcast(T.int32(31), 4)), negr)


def _other_rows(other, zp, n_rows: int, nb: int) -> list:
    """`other` minus its zero point as int32x4 per (pixel, channel block), loaded 16, 8 or
    4 channels at a time and widened through int16 (`ssubl`: the zero point is int8)."""
    rows = []
    for p in range(n_rows // nb):
        j = 0
        while j < nb:
            n = 4 if nb - j >= 4 else 2 if nb - j >= 2 else 1
            lanes = 4 * n
            v = other.vload([p, 4 * j], f"int8x{lanes}")
            z = T.broadcast(T.Cast("int8", zp), lanes)
            d = T.bind(T.Cast(f"int32x{lanes}", T.Cast(f"int16x{lanes}", v)
                              - T.Cast(f"int16x{lanes}", z)))
            rows += [tirx.Shuffle([d], list(range(4 * i, 4 * i + 4))) if n > 1 else d
                     for i in range(n)]
            j += n
    return rows


def _narrow_store(rows: list, zp, lo, hi, out, nb: int) -> None:
    """Saturate 4 int32x4 at a time to one int8x16 (+ zero point `zp`, clamp to [lo, hi])
    and store each pixel's run of channel blocks in it (the last group padded with
    copies)."""
    zp = T.broadcast(T.Cast("int16", zp), 8)
    lo, hi = (T.broadcast(T.Cast("int8", v), 16) for v in (lo, hi))
    for g in range(0, len(rows), 4):
        part = rows[g:g + 4]
        part += [part[-1]] * (4 - len(part))
        h16 = [neon("sqadd.v8i16", "int16x8", T.Shuffle(
            [neon("sqxtn.v4i16", "int16x4", part[2 * i]),
             neon("sqxtn.v4i16", "int16x4", part[2 * i + 1])], list(range(8))), zp)
            for i in range(2)]
        b8 = T.Shuffle([neon("sqxtn.v8i8", "int8x8", h) for h in h16], list(range(16)))
        b8 = T.bind(T.max(T.min(b8, hi), lo))
        k = 0
        while k < 4 and g + k < len(rows):
            p, j = divmod(g + k, nb)
            run = min(nb - j, 4 - k, len(rows) - g - k)
            n = 4 if run == 4 else 2 if run >= 2 and k % 2 == 0 else 1
            T.buffer_store(out, _piece(b8, k, n), [p, T.Ramp(4 * j, 1, 4 * n)])
            k += n


def _piece(b8, k: int, n: int):
    """Bytes 4k .. 4(k + n) of an int8x16 as int8x(4n), taken as one 32-, 64- or 128-bit
    lane (a byte shuffle would make LLVM move the bytes one at a time)."""
    if n == 4:
        return b8
    word = f"int{32 * n}"
    lane = tirx.Shuffle([T.reinterpret(b8, dtype=f"{word}x{4 // n}")], [k // n])
    return T.reinterpret(lane, dtype=f"int8x{4 * n}")


def intrin(pixels: int, channels: int, add: int = 0) -> str:
    """The registered intrinsic's name (channels a multiple of 4); `add`: 0 a plain
    requant, `FIRST` or `SECOND` a `qadd` behind it with the tile as its first or second
    input (the name's k-block field)."""
    name = tile_intrins.name(KIND, pixels, channels, add)
    if name not in _registered:
        TensorIntrin.register(name, _desc(pixels, channels, add), _impl(pixels, channels, add))
        _registered.add(name)
    return name
