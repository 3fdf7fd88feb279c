"""aarch64 depthwise convolution with `sdot` (targets with dotprod), hand-written (`te.extern`).

The layers `dw_neon` covers (channels a multiple of 8), computed as `dw_vnni` does: an
int32 lane is a channel and its 4 bytes are 4 kernel rows of one input column, `[x(r0)
x(r1) x(r2) x(r3)]` (rows past the kernel read 0, and their weight is 0). Such a column
vector (8 channels: two `tbl` over the rows' 8-byte loads, `tbl3` for a 3-row kernel)
serves every output pixel of a tile whose kernel covers that column, one `sdot` per 4
channels each: a 3x3 kernel costs 3 `sdot` per pixel and 4 channels, its columns shared
by neighbouring pixels. `sdot` sums 4 int8 x int8 products per int32 lane exactly, so
the activations are used as they are: the input zero point is folded into the bias and
a tap outside the input reads it (border rows and columns know at build time which taps
fall outside), as in `dw_neon`, whose epilogue (`dw_neon.requant`) and parameter table
(`dw_neon.params`, `dw_neon.Form`) this kernel shares. Weights: `dw_window.weights`.
"""
from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T

from edgemobilenet.backends.tvm import dw_neon
from edgemobilenet.backends.tvm.dw_window import ROWS, Window
from edgemobilenet.backends.tvm.intrin_neon import neon

LANES = dw_neon.LANES   # channels per block (two int32x4 accumulators per pixel)
PIXELS = 8              # output pixels per interior tile (4: 0.65 M more on the A76,
                        # MobileNetV2; 12: 0.31 M more)


def _table(half: int):
    """`tbl` indices over up to 4 int8x16 rows (8 bytes used each): byte 4c + s = row s's
    channel 4 * half + c, i.e. 16 s + 4 half + c (past a table of fewer rows: 0)."""
    j = T.ramp(T.int8(0), T.int8(1), 4 * ROWS)
    return ((j & T.int8(3)) << T.int8(4)) + (j >> T.int8(2)) + T.int8(4 * half)


def stmt(x, w, p, q, y, kh: int, pads: tuple[int, int, int, int], stride: tuple[int, int],
         dilation: tuple[int, int], form: dw_neon.Form):
    """The kernel over buffers x (1, H, W, C) int8, w (`dw_window.weights` of a `kh`-row
    kernel), p (`dw_neon.params`, whose `dw_neon.Form.of` is `form`), q [zp_x, zp_y, lo,
    hi] int32 -> y (1, OH, OW, C) int8."""
    c = int(x.shape[3])
    kw, groups, _, _ = (int(v) for v in w.shape)
    win = Window.of(x, y, (kh, kw), pads, stride, dilation)
    top, left, _, _ = pads
    (sh, sw), (dh, dw) = stride, dilation

    def row(oy, vky, k):
        """Output row `oy` (an expression), whose kernel rows `vky` read inside, block k."""
        ch = k * LANES
        wv = {(b, g, h): T.bind(w.vload([b, g, ch + 4 * h, 0], "int8x16"))
              for b in range(kw) for g in range(groups) for h in (0, 1)}
        pv = [[T.bind(p.vload([r, ch + 4 * half], "int32x4")) for half in (0, 1)]
              for r in range(4)]
        zp = T.bind(T.broadcast(T.Cast("int8", q[0]), 2 * LANES))
        zero = T.broadcast(T.int8(0), LANES)
        idx = [T.bind(_table(h)) for h in (0, 1)]
        zpy = T.bind(T.broadcast(T.Cast("int16", q[1]), LANES))
        lo = T.bind(T.broadcast(T.Cast("int8", q[2]), LANES))
        hi = T.bind(T.broadcast(T.Cast("int8", q[3]), LANES))

        def column(xi: int | tirx.PrimExpr, g: int, inside: bool) -> list:
            """Input column `xi`'s vectors of kernel rows group g (channels 0-3, 4-7)."""
            rows = [T.vectorcombine(x.vload([0, oy * sh + r * dh - top, xi, ch], "int8x8"),
                                    zero, dtype="int8x16")
                    if inside and r in vky else zp
                    for r in range(g * ROWS, min(kh, (g + 1) * ROWS))]
            return [T.bind(neon(f"tbl{len(rows)}.v16i8", "int8x16", *rows, idx[h]))
                    for h in (0, 1)]

        def pixels(ox0, vkx: list[tuple[int, ...]]):
            """Pixels `ox0 + i` (i < len(vkx)), pixel i's columns `vkx[i]` reading inside."""
            built = {}
            for i, vk in enumerate(vkx):
                acc = list(pv[0])
                for b in range(kw):
                    off = i * sw + b * dw
                    for g in range(groups):
                        key = (off, g)   # one column, whatever pixel reads it
                        if key not in built:
                            built[key] = column(ox0 * sw + off - left, g, b in vk)
                        for h in (0, 1):
                            acc[h] = neon("sdot.v4i32.v16i8", "int32x4", acc[h],
                                          built[key][h], wv[b, g, h])
                out = dw_neon.requant(acc, pv, zpy, lo, hi, form)
                T.buffer_store(y, out, [0, oy, ox0 + i, T.ramp(ch, 1, LANES)])

        win.columns(PIXELS, pixels)

    return win.rows_stmt(c // LANES, row)
