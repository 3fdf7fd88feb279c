"""aarch64 requantize tile: a packed convolution's plain `requant` epilogue over P pixels x
C channels of its register tile (`te_fixedpoint.requant_channels`, `SQRDMULH` form), written
with saturating narrowing instead of the vectorised TE expression.

Per int32x4: + bias, << left, `sqrdmulh`, then the rounding shift by `right` as
`srshl(q + ((q & -right) >> 31), -right)` (4 instructions, not 5: adding -1 to a negative
`q` turns `srshl`'s round-half-up into round-half-away-from-zero; no overflow, since
`sqrdmulh` with m >= 0 never returns INT32_MIN). Per 16 outputs: `sqxtn`/`sqxtn2` to int16,
`sqadd` of the zero point, `sqxtn`/`sqxtn2` to int8, one `smin` and one `smax` on int8x16
(the TE form clamps and narrows each int32x4: about 5 instructions per 4 outputs more).
Exact: saturating to int16 before adding a zero point in [-128, 127], then to int8, then
clamping to [lo, hi] within int8 equals clamping the int32 sum (the clamp bounds and zero
point of an int8 output are int8 values).
"""
from __future__ import annotations

import tvm
from tvm import te, tirx
from tvm.s_tir import SBlock, SBlockRealize, TensorIntrin
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder.tirx import prim_func as build_prim_func

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm import tile_intrins
from edgemobilenet.backends.tvm.intrin_neon import neon

KIND = "requant"
_registered: set[str] = set()


def _buffers(p_: int, oc: int):
    kw = {"offset_factor": 1}
    names = ["acc", "bias", "m", "left", "right", "half", "q", "out"]
    h = {n: T.arg(n, T.handle()) for n in names}
    acc = T.match_buffer(h["acc"], (p_, oc), "int32", strides=[T.int32(), 1], **kw)
    cols = [T.match_buffer(h[n], (oc,), "int32", **kw) for n in names[1:6]]
    q = T.match_buffer(h["q"], (3,), "int32", **kw)
    out = T.match_buffer(h["out"], (p_, oc), "int8", strides=[T.int32(), 1], **kw)
    return acc, cols, q, out


def _desc(p_: int, oc: int):
    """`requant_channels`' block over a (P, C) tile, made by the same TE expression as the
    kernels it is matched against; its root block reads and writes the whole buffers, in
    the inner block's order."""
    acc = te.placeholder((p_, oc), "int32", name="acc")
    cols = [te.placeholder((oc,), "int32", name=n) for n in ("bias", "m", "left", "right", "half")]
    q = te.placeholder((3,), "int32", name="q")
    f = te.create_prim_func([acc, *cols, q, tfp.requant_channels(acc, *cols, q,
                                                                    form=tfp.SQRDMULH)])
    root = f.body.block
    inner = root.body.body.body.block   # loops over pixels and channels, then the block

    def whole(regions):
        return [tvm.tirx.BufferRegion(r.source, [tvm.ir.Range(0, n) for n in r.source.shape])
                for r in regions]
    block = SBlock([], whole(inner.reads), whole(inner.writes), "root", root.body)
    return f.with_body(SBlockRealize([], True, block))


def _impl(p_: int, oc: int):
    nb = oc // 4
    with IRBuilder() as ib:
        with build_prim_func():
            acc, cols, q, out = _buffers(p_, oc)
            with T.sblock("root"):
                T.reads(acc[0:p_, 0:oc], *(c[0:oc] for c in cols), q[0:3])
                T.writes(out[0:p_, 0:oc])
                bias, m, left, right = ([T.bind(c.vload([4 * j], "int32x4")) for j in range(nb)]
                                        for c in cols[:4])
                negr = [T.bind(T.broadcast(T.int32(0), 4) - r) for r in right]
                rows = []   # rounded int32x4 per (pixel, channel block)
                for p in range(p_):
                    for j in range(nb):
                        a = (acc.vload([p, 4 * j], "int32x4") + bias[j]) << left[j]
                        s = neon("sqrdmulh.v4i32", "int32x4", a, m[j])
                        x = s + ((s & negr[j]) >> T.broadcast(T.int32(31), 4))
                        rows.append(T.bind(neon("srshl.v4i32", "int32x4", x, negr[j])))
                _narrow_store(rows, q, out, nb)
    return ib.get()


def _narrow_store(rows: list, q, out, nb: int) -> None:
    """Saturate 4 int32x4 at a time to one int8x16 (+ zero point, clamp) and store each
    pixel's run of channel blocks in it (the last group padded with copies)."""
    zp = T.broadcast(T.Cast("int16", q[0]), 8)
    lo, hi = (T.broadcast(T.Cast("int8", q[i]), 16) for i in (1, 2))
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


def intrin(pixels: int, channels: int) -> str:
    """The registered intrinsic's name (channels a multiple of 4)."""
    name = tile_intrins.name(KIND, pixels, channels, 0)
    if name not in _registered:
        TensorIntrin.register(name, _desc(pixels, channels), _impl(pixels, channels))
        _registered.add(name)
    return name
