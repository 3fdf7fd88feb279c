"""The data of a patch plan (patch.py chooses it; the planner and the in-place pass read
it): a leaf module, so those passes name its types without an import cycle."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Box:
    """Rows y0..y1-1, columns x0..x1-1 of a feature map."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def hw(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def union(self, o: Box | None) -> Box:
        if o is None:
            return self
        return Box(min(self.y0, o.y0), max(self.y1, o.y1), min(self.x0, o.x0), max(self.x1, o.x1))


@dataclass
class Patch:
    """One tile of the join: the region each stage tensor holds (`held`), the region
    each (layer, input index) reads (`reads`) and the region each layer writes (`made`;
    absent: all it holds). With cached rows (`PatchPlan.cached`) the top of a buffer first
    gets the rows kept from the patch above (saved in a cache buffer when they were made):
    `kept[tensor]` = (first kept row in that patch's region, rows kept); the layer writes
    the rows below them."""

    held: dict[str, Box]
    reads: dict[tuple[int, int], Box]
    made: dict[str, Box] = field(default_factory=dict)
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)

    def out(self, t: str) -> Box:
        """The region of tensor t its producer writes in this patch."""
        return self.made.get(t) or self.held[t]


@dataclass
class Span:
    """The regions of one tile along one axis (a box is a row span times a column span):
    the interval each tensor holds, each (layer, input) reads, each layer makes when rows
    are cached (absent: all it holds), and the rows kept from the tile above (first kept
    row in what that tile held, rows kept)."""

    held: dict[str, tuple[int, int]]
    reads: dict[tuple[int, int], tuple[int, int]]
    made: dict[str, tuple[int, int]] = field(default_factory=dict)
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)

    def extent(self, t: str, made: bool = False) -> int:
        a, b = (self.made.get(t) if made else None) or self.held[t]
        return b - a


@dataclass
class PatchPlan:
    """Layers 0..join run per patch over a grid of the join output (`rows` x `cols` spans);
    `cached`: patches go down each column of the grid in turn, and the rows the patch below
    reads again are saved in a cache buffer per tensor (`caches`: bytes; live over the
    whole stage) instead of being recomputed."""

    join: int
    grid: tuple[int, int]
    rows: list[Span]
    cols: list[Span]
    sizes: dict[str, int]                   # stage tensor -> largest region bytes
    windows: dict[tuple[int, int], int]     # (layer, input) read through a copy -> bytes
    tile: int                               # bytes of layer J's tile copy (0: direct)
    estimate: tuple[int, int] = (0, 0)      # estimated instructions: layer by layer, patched
    stage: list[int] = field(default_factory=list)
    cached: bool = False
    caches: dict[str, int] = field(default_factory=dict)

    @cached_property
    def patches(self) -> list[Patch]:
        """The tiles in execution order (down each column when rows are cached)."""
        order = ([(r, c) for c in self.cols for r in self.rows] if self.cached
                 else [(r, c) for r in self.rows for c in self.cols])
        return [Patch({t: Box(*y, *c.held[t]) for t, y in r.held.items()},
                      {kj: Box(*y, *c.reads[kj]) for kj, y in r.reads.items()},
                      {t: Box(*y, *c.held[t]) for t, y in r.made.items()}, r.kept)
                for r, c in order]
