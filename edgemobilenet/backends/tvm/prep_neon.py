"""aarch64 input preparation of a 3-channel stem (`te_packed.prepare_input` to 4 channels,
int8, spatial padding with the zero point), hand-written (`te.extern`).

Per 4 input pixels one 16-byte load (12 bytes used), one `tbl` over it and a vector of the
zero point (each pixel's 3 bytes, then the zero point) and one 16-byte store; a row's last
4 pixels load the 16 bytes ending at their last byte (never past the buffer). Padding rows
and columns are stores of the zero point. Rows over threads. The generic kernel takes about
15 instructions per pixel (bounds tests, byte loads and stores).
"""
from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder

from edgemobilenet.backends.tvm.intrin_neon import neon

PIXELS = 4   # input pixels per `tbl`


def covers(shape, channels: int) -> bool:
    """Whether `stmt` prepares an NHWC input of this shape to `channels` channels."""
    return (len(shape) == 4 and int(shape[0]) == 1 and int(shape[3]) == 3 and channels == 4
            and int(shape[2]) % PIXELS == 0 and int(shape[2]) >= 2 * PIXELS)


def stmt(x, zp, y, pads: tuple[int, int, int, int]):
    """`y` = `x` (1, H, W, 3) padded by `pads` (top, left, bottom, right) with `zp[0]` and
    to 4 channels with it (`covers`)."""
    top, left, _, _ = pads
    _, h, w, _ = (int(v) for v in x.shape)
    _, hp, wp, _ = (int(v) for v in y.shape)
    with IRBuilder() as ib:
        with T.parallel(0, hp) as i:
            zv = T.bind(T.broadcast(T.Cast("int8", zp[0]), 16))

            def fill(j0: int, n: int) -> None:
                for j in range(j0, j0 + n - n % PIXELS, PIXELS):
                    T.buffer_store(y, zv, [0, i, j, T.ramp(0, 1, 16)])
                for j in range(j0 + n - n % PIXELS, j0 + n):
                    T.buffer_store(y, T.vectorlow(T.vectorlow(zv, dtype="int8x8"),
                                                  dtype="int8x4"), [0, i, j, T.ramp(0, 1, 4)])

            lane = T.ramp(T.int8(0), T.int8(1), 16)   # byte 4p + k: pixel p, channel k
            taken = lane - (lane >> T.broadcast(T.int8(2), 16))   # 3p + k

            def chunk(j, at: list, shift: int) -> None:
                idx = T.Select((lane & T.broadcast(T.int8(3), 16)) == T.broadcast(T.int8(3), 16),
                               T.broadcast(T.int8(16), 16), taken + T.broadcast(T.int8(shift), 16))
                out = neon("tbl2.v16i8", "int8x16", x.vload(at, "int8x16"), zv, idx)
                T.buffer_store(y, out, [0, i, left + j, T.ramp(0, 1, 16)])

            with T.If(tirx.all(i >= top, i < top + h)):
                with T.Then():
                    fill(0, left)
                    with T.serial(0, w // PIXELS - 1) as q:
                        chunk(q * PIXELS, [0, i - top, q * PIXELS, 0], 0)
                    # the 16 bytes ending at the row's last: 4 bytes before its last 4 pixels
                    chunk(w - PIXELS, [0, i - top, w - PIXELS - 2, 2], 4)
                    fill(left + w, wp - left - w)
                with T.Else():
                    fill(0, wp)
    return ib.get()
