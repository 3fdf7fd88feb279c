"""The data of a patch plan (patch.py chooses it; the planner and the in-place pass read
it): a leaf module, so those passes name its types without an import cycle."""
from __future__ import annotations

from dataclasses import dataclass, field


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
    absent: all it holds). With cached rows (`PatchPlan.cached`) a buffer first moves the
    rows it keeps from the patch above to its top: `kept[tensor]` = (first kept row in the
    buffer as the patch above left it, rows kept); the layer writes the rows below them."""

    held: dict[str, Box]
    reads: dict[tuple[int, int], Box]
    made: dict[str, Box] = field(default_factory=dict)
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)

    def out(self, t: str) -> Box:
        """The region of tensor t its producer writes in this patch."""
        return self.made.get(t) or self.held[t]


@dataclass
class PatchPlan:
    """Layers 0..join run per patch over a grid of the join output; `cached`: patches go
    down each column of the grid in turn and every stage buffer keeps the rows the patch
    below reads again (no vertical halo recomputed; those buffers live the whole stage)."""

    join: int
    grid: tuple[int, int]
    patches: list[Patch]
    sizes: dict[str, int]                   # stage tensor -> largest region bytes
    windows: dict[tuple[int, int], int]     # (layer, input) read through a copy -> bytes
    tile: int                               # bytes of layer J's tile copy (0: direct)
    estimate: tuple[int, int] = (0, 0)      # estimated instructions: layer by layer, patched
    stage: list[int] = field(default_factory=list)
    cached: bool = False

    @property
    def carried(self) -> set[str]:
        """Stage tensors whose buffer keeps rows from one patch to the next."""
        return {t for p in self.patches for t in p.kept}
