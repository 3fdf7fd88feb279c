"""Static memory plan for one QGraph: every activation tensor gets an offset in one arena.

A tensor lives from the node that produces it to its last consumer (graph inputs from the
start, graph outputs to the end). `reshape` outputs alias their input (no copy) and `lut`
may write over its input when that input dies there; so may the depthwise layers chosen
to run in place (inplace.py), whose scratch is a buffer live at that layer only. Offsets
come from greedy placement (lowest gap that fits among already placed, time-overlapping
buffers), tried for several orderings; the best is kept and reported beside the lower bound
(the largest sum of live bytes at any step), which no plan can beat. Layers run in patches
(patch.py) hold their tensors in buffers of the largest patch region, with the window
copies as buffers of their layer; the input, the join buffer and the caches of rows a
patch tensor keeps for the next patch (cached rows) live over the whole patched stage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from edgemobilenet.quant.qgraph import QGraph

if TYPE_CHECKING:
    from edgemobilenet.backends.mcu.patch_plan import PatchPlan

_ITEMSIZE = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4}
# ops whose output may occupy exactly its (dying) first input's bytes
_ALIAS_OPS = {"reshape": "always", "lut": "if_dies"}


@dataclass
class Buffer:
    """One arena region shared by a tensor and its aliases."""

    tensors: list[str]
    size: int                 # aligned bytes
    start: int                # first step it must hold data (node index; 0 for inputs)
    end: int                  # last step it must hold data
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class MemoryPlan:
    """Offsets (bytes into the arena) for every activation tensor of a graph."""

    offsets: dict[str, int]
    sizes: dict[str, int]              # unaligned tensor bytes
    buffers: list[Buffer]
    arena_bytes: int
    lower_bound: int
    alignment: int
    strategy: str
    live_bytes: list[int] = field(default_factory=list)   # per node: sum of live buffers
    peak_layer: int = 0                                    # node index with most live bytes
    inplace: dict[int, tuple[int, int]] = field(default_factory=dict)  # layer: (band, scratch)
    scratch: dict[int, int] = field(default_factory=dict)  # layer: scratch offset
    patch: "PatchPlan | None" = None
    temps: dict[str, int] = field(default_factory=dict)    # patch copy buffer: offset


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def tensor_bytes(g: QGraph, name: str) -> int:
    t = g.tensor(name)
    return math.prod(t.shape) * _ITEMSIZE[t.dtype]


def window_name(g: QGraph, k: int, j: int) -> str:
    """The buffer a patch layer k reads its input j through (a window copy)."""
    return f"{g.nodes[k].name}:window{j}"


def tile_name(g: QGraph, k: int) -> str:
    return f"{g.nodes[k].name}:tile"


def cache_name(tensor: str) -> str:
    """The buffer keeping a patch tensor's rows for the patch below (cached rows)."""
    return f"{tensor}:cache"


def build_buffers(g: QGraph, alignment: int, inplace: Mapping[int, tuple[int, int]] = {},
                  patch: PatchPlan | None = None) -> tuple[list[Buffer], dict[str, Buffer]]:
    """Lifetimes of all activation tensors, with aliases merged into one buffer; the
    layers in `inplace` (node: (band rows, scratch bytes)) share their input's buffer and
    get a scratch buffer (not in the returned map) live at that node; `patch`: layers run
    in patches (patch.py), their tensors sized as the largest region."""
    last = len(g.nodes) - 1
    last_use: dict[str, int] = {}
    for i, node in enumerate(g.nodes):
        for t in node.inputs:
            last_use[t] = i
    for t in g.outputs:
        last_use[t] = max(last, 0)
    sizes = patch.sizes if patch else {}
    join = patch.join if patch else -1

    def nbytes(t: str) -> int:
        return sizes.get(t) or tensor_bytes(g, t)

    of: dict[str, Buffer] = {}
    buffers: list[Buffer] = []

    def new(t: str, step: int) -> None:
        start = 0 if step == join else step   # the join buffer fills patch by patch
        b = Buffer([t], _align(nbytes(t), alignment), start, max(step, last_use.get(t, step)))
        buffers.append(b)
        of[t] = b

    for t in g.inputs:
        new(t, 0)
        of[t].end = max(of[t].end, join)
    if patch:
        for (k, j), n in patch.windows.items():
            buffers.append(Buffer([window_name(g, k, j)], _align(n, alignment), k, k))
        if patch.tile:
            buffers.append(Buffer([tile_name(g, join)], _align(patch.tile, alignment), join, join))
        for t, n in patch.caches.items():
            buffers.append(Buffer([cache_name(t)], _align(n, alignment), 0, join))
    for i, node in enumerate(g.nodes):
        kind = _ALIAS_OPS.get(node.op)
        src = node.inputs[0] if node.inputs else None
        if i in inplace:
            buffers.append(Buffer([f"{node.name}:scratch"], _align(inplace[i][1], alignment),
                                  i, i))
        for t in node.outputs:
            if t in of:
                continue
            if i in inplace:
                can_alias = True
            elif src not in of or nbytes(t) != nbytes(src) or (i <= join and kind != "always"):
                can_alias = False
            elif kind == "always":
                can_alias = True
            else:   # in place only over a buffer that dies here and is no graph output
                can_alias = (kind == "if_dies" and of[src].end <= i
                             and not set(of[src].tensors) & set(g.outputs))
            if can_alias:
                b = of[src]
                b.tensors.append(t)
                b.end = max(b.end, last_use.get(t, i))
                of[t] = b
            else:
                new(t, i)
    return buffers, of


def lower_bound(buffers: list[Buffer], steps: int) -> tuple[int, list[int]]:
    """Max over steps of the sum of live buffer sizes, and that sum per step."""
    live = [0] * max(steps, 1)
    for b in buffers:
        for s in range(b.start, b.end + 1):
            live[s] += b.size
    return max(live, default=0), live


def _place(buffers: list[Buffer], order: list[int], alignment: int) -> tuple[list[int], int]:
    placed: list[tuple[int, int, Buffer]] = []   # (offset, end offset, buffer)
    offsets = [0] * len(buffers)
    top = 0
    for i in order:
        b = buffers[i]
        busy = sorted((o, e) for o, e, other in placed if other.overlaps_in_time(b))
        best = None
        cursor = 0
        for o, e in busy:   # best fit: smallest gap that holds b, else the top
            if o - cursor >= b.size and (best is None or o - cursor < best[1]):
                best = (cursor, o - cursor)
            cursor = max(cursor, _align(e, alignment))
        off = best[0] if best else cursor
        offsets[i] = off
        placed.append((off, off + b.size, b))
        top = max(top, off + b.size)
    return offsets, top


_ORDERINGS = {
    "size": lambda b: (-b.size, b.start),
    "size_x_time": lambda b: (-b.size * (b.end - b.start + 1), b.start),
    "duration": lambda b: (-(b.end - b.start), -b.size),
    "start": lambda b: (b.start, -b.size),
}


def plan(g: QGraph, alignment: int = 4, inplace: Mapping[int, tuple[int, int]] = {},
         patch: PatchPlan | None = None) -> MemoryPlan:
    """Assign arena offsets to every activation tensor of `g`, minimising the arena;
    `inplace`: depthwise layers run in place (inplace.choose); `patch`: layers run in
    patches (patch.choose)."""
    buffers, of = build_buffers(g, alignment, inplace, patch)
    lb, live = lower_bound(buffers, len(g.nodes))
    best: tuple[int, str, list[int]] | None = None
    for name, key in _ORDERINGS.items():
        order = sorted(range(len(buffers)), key=lambda i: key(buffers[i]))
        offsets, top = _place(buffers, order, alignment)
        if best is None or top < best[0]:
            best = (top, name, offsets)
    assert best is not None
    for b, off in zip(buffers, best[2]):
        b.offset = off
    peak = int(np.argmax(live)) if live else 0
    return MemoryPlan(offsets={t: b.offset for t, b in of.items()},
                      sizes={t: (patch.sizes.get(t) if patch else None) or tensor_bytes(g, t)
                             for t in of},
                      buffers=buffers, arena_bytes=best[0], lower_bound=lb,
                      alignment=alignment, strategy=best[1], live_bytes=live, peak_layer=peak,
                      inplace=dict(inplace),
                      scratch={i: b.offset for b in buffers if b.tensors[0].endswith(":scratch")
                               for i in [b.start]},
                      patch=patch,
                      temps={b.tensors[0]: b.offset for b in buffers
                             if b.tensors[0].endswith((":tile", ":cache"))
                             or ":window" in b.tensors[0]})
