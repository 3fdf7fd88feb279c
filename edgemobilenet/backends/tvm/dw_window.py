"""The border / interior split the hand-written depthwise kernels (`dw_neon`, `dw_vnni`)
share: at build time, which kernel taps of each output row and column read inside the
input; border rows and columns get code of their own, interior rows one shared body, and
interior columns tiles of pixels plus a tail. The dot-product kernels (`dw_vnni`, `dw_sdot`)
take their weights as column vectors (`weights`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tvm import tirx
from tvm.script import tirx as T
from tvm.script.ir_builder import IRBuilder

Taps = tuple[int, ...]
ROWS = 4   # kernel rows per column vector (the 4 bytes of a `vpdpbusd` / `sdot` lane)


def _valid(o: int, stride: int, dil: int, pad: int, k: int, size: int) -> Taps:
    """The taps of output index `o` that read inside the input."""
    return tuple(t for t in range(k) if 0 <= o * stride + t * dil - pad < size)


@dataclass(frozen=True)
class Window:
    """Per output row and column, its taps reading inside the input (`rows`, `cols`); the
    rows and columns whose taps all do (`inner_r`, `inner_c`: contiguous)."""
    rows: list[Taps]
    cols: list[Taps]
    full_r: Taps
    full_c: Taps

    @staticmethod
    def of(x, y, kernel: tuple[int, int], pads: tuple[int, int, int, int],
           stride: tuple[int, int], dilation: tuple[int, int]) -> Window:
        """For buffers x (1, H, W, C) -> y (1, OH, OW, C) and a (KH, KW) kernel."""
        (_, h, wd, _), (_, oh, ow, _) = ([int(v) for v in b.shape] for b in (x, y))
        kh, kw = kernel
        top, left, _, _ = pads
        (sh, sw), (dh, dw) = stride, dilation
        return Window([_valid(o, sh, dh, top, kh, h) for o in range(oh)],
                      [_valid(o, sw, dw, left, kw, wd) for o in range(ow)],
                      tuple(range(kh)), tuple(range(kw)))

    @property
    def inner_r(self) -> list[int]:
        return [o for o, t in enumerate(self.rows) if t == self.full_r]

    @property
    def inner_c(self) -> list[int]:
        return [o for o, t in enumerate(self.cols) if t == self.full_c]

    def columns(self, tile: int, pixels: Callable[[Any, list[Taps]], None]) -> None:
        """Emit one output row's pixels: `pixels(ox0, taps)` for pixels ox0 + i, i <
        len(taps): border columns one at a time, the interior in a serial loop of `tile`
        pixels, then its tail."""
        inner = self.inner_c
        for o in range(len(self.cols)):
            if o not in inner:
                pixels(o, [self.cols[o]])
            elif o == inner[0]:
                tiles = len(inner) // tile
                if tiles:
                    with T.serial(0, tiles) as t:
                        pixels(o + t * tile, [self.full_c] * tile)
                for j in range(o + tiles * tile, inner[-1] + 1):
                    pixels(j, [self.full_c])

    def rows_stmt(self, blocks: int, row: Callable[[Any, Taps, Any], None]):
        """The kernel's body: one parallel loop over output rows x `blocks` channel blocks,
        `row(oy, taps, block)`: each border row its own code, the interior rows one body."""
        inner = self.inner_r
        with IRBuilder() as ib:
            with T.parallel(0, len(self.rows) * blocks) as it:
                oy, k = it // blocks, it % blocks
                for o, taps in enumerate(self.rows):
                    if o not in inner:
                        with T.If(oy == o):
                            with T.Then():
                                row(o, taps, k)
                if inner:
                    with T.If(tirx.all(oy >= inner[0], oy <= inner[-1])):
                        with T.Then():
                            row(oy, self.full_r, k)
        return ib.get()


def weights(w: np.ndarray) -> np.ndarray:
    """QGraph OHWI `(C, KH, KW, 1)` -> `(KW, G, C, ROWS)` int8, G = ceil(KH / ROWS):
    `[kx, g, c, s]` = weight of row `g * ROWS + s`, column kx (0 past the kernel)."""
    c, kh, kw, _ = w.shape
    g = -(-kh // ROWS)
    out = np.zeros((kw, g * ROWS, c), dtype=np.int8)
    out[:, :kh] = w[:, :, :, 0].transpose(2, 1, 0)
    return np.ascontiguousarray(out.reshape(kw, g, ROWS, c).transpose(0, 1, 3, 2))
