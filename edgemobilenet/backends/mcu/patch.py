"""Compile pass "patch-based execution" (MCUNetV2; `edgemb compile --memory auto|min`): the
first, memory-heavy layers 0..J of a model run on spatial patches instead of whole maps.

The output of layer J (the join) is cut into a grid of tiles; for each tile, every layer of
the stage computes only the region its consumers need (the receptive field of the tile,
clipped to the map), into small patch buffers, and layer J writes its tile into the join's
full output buffer. After the join the model runs layer by layer. The halos neighbouring
patches share are recomputed, or, with cached rows, the patches go down each column of the
grid in turn and each stage tensor saves the rows the patch below reads again in a cache
buffer (restored to the top of its patch buffer before the layer makes the rows below
them): only the columns' halos are recomputed. Regions are products of a row span and a
column span (`Span`), worked out once per grid row and column. A patch layer is one call
of the op's own kernel over a window (`McuKernel.window`: smaller in/out sizes; the padding
it keeps is the image border's, so border patches pad with the input zero point exactly as
the reference does). A layer that reads only some columns of a buffer (the image, or a
residual's input wider than the add needs) reads a copy of that window (only some rows: a
pointer offset); layer J's tile is copied into the join buffer unless it spans whole rows.
The planner (planner.py) sizes each patch tensor as its largest region, keeps the input
alive and the join buffer and the row caches allocated over the whole stage, so the plan
and its lower bound count the patches.

Choice (`choose`): for each stage end J, square grids (halos recomputed) and grids of a few
rows up to one join row per patch by 1..6 columns (rows cached), the arena lower bound
(depthwise layers after the join in place) and an instruction estimate (MACs per layer kind
weighted by the variant's measured instructions per MAC, a cost per kernel call and output
channel, per copied byte, and for the layers then run in place). Only plans whose estimated
extra instructions stay within `budget` (+15 % of the whole model) count, in every mode:
"min" takes the smallest peak among them; "auto" (the default) takes it only when the model
would not fit the target's SRAM otherwise (and fits with it), so a model that fits keeps
the fastest code; "fast" never patches. A patch plan is kept only if it lowers the arena.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.backends.mcu import inplace, planner
from edgemobilenet.backends.mcu.patch_plan import Box, Patch, PatchPlan, Span
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph

STAGE_OPS = ("conv2d", "add", "lut")
GRIDS = range(2, 9)
CACHED_COLUMNS = range(1, 7)
BUDGET = 0.15


def _hwc(g: QGraph, t: str) -> tuple[int, int, int]:
    s = g.tensor(t).shape
    return s[1], s[2], s[3]


def stage_ends(g: QGraph) -> list[int]:
    """Layers J such that layers 0..J can run in patches: spatially local ops with a window
    form on 4-D maps, every tensor they make (but J's output) used only inside the stage,
    the graph input only by them, no graph output before J."""
    if len(g.inputs) != 1 or len(g.tensor(g.inputs[0]).shape) != 4:
        return []
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.nodes):
        for t in n.inputs:
            last_use[t] = i
    ends, made = [], [g.inputs[0]]
    for j, n in enumerate(g.nodes):
        s = ops.spec(n.op)
        out = g.tensor(n.outputs[0])
        if (n.op not in STAGE_OPS or s.mcu is None or s.mcu.window is None
                or len(n.outputs) != 1 or len(out.shape) != 4 or n.outputs[0] in g.outputs
                or any(g.tensor(t).shape[:3] != out.shape[:3] for t in n.inputs
                       if n.op != "conv2d")
                or any(t not in made for t in n.inputs)):
            break
        if n.op == "conv2d" and ops.attrs_of(n).dilation != (1, 1):
            break
        made.append(n.outputs[0])
        if all(last_use.get(t, -1) <= j for t in made[:-1]):
            ends.append(j)
    return ends


@dataclass(frozen=True)
class _Conv:
    kh: int
    kw: int
    stride: tuple[int, int]
    pad: tuple[int, int]
    in_hw: tuple[int, int]
    per_pixel: int        # MACs per output pixel
    kind: int             # index into _PER_MAC: first conv, depthwise, pointwise


def conv_geometry(g: QGraph) -> dict[int, _Conv]:
    """The geometry of every conv2d (read once: attrs_of is slow)."""
    out = {}
    for k, n in enumerate(g.nodes):
        if n.op != "conv2d" or len(g.tensor(n.outputs[0]).shape) != 4:
            continue
        a = ops.attrs_of(n)
        w = n.params["weight"]
        kind = 1 if a.groups > 1 else (2 if w.shape[1] == w.shape[2] == 1 else 0)
        h, wd, _ = _hwc(g, n.inputs[0])
        out[k] = _Conv(int(w.shape[1]), int(w.shape[2]), a.stride, a.padding[:2], (h, wd),
                       _hwc(g, n.outputs[0])[2] * int(np.prod(w.shape[1:])), kind)
    return out


def _conv_span(cv: _Conv, axis: int, lo: int, hi: int) -> tuple[int, int, int]:
    """The input rows (axis 0) or columns (1) a conv reads for outputs lo..hi-1, and the
    padding left before them."""
    s, p, k = cv.stride[axis], cv.pad[axis], (cv.kh, cv.kw)[axis]
    a, b = lo * s - p, (hi - 1) * s - p + k
    return max(a, 0), min(b, cv.in_hw[axis]), max(a, 0) - a


def conv_pad(g: QGraph, k: int, out: Box, convs: dict[int, _Conv] | None = None
             ) -> tuple[int, int]:
    """The padding a conv's window call keeps at its top and left for output region `out`
    (`convs`: conv_geometry(g), read once)."""
    cv = (conv_geometry(g) if convs is None else convs)[k]
    return _conv_span(cv, 0, out.y0, out.y1)[2], _conv_span(cv, 1, out.x0, out.x1)[2]


def _span(g: QGraph, join: int, axis: int, lo: int, hi: int, convs: dict[int, _Conv],
          above: Span | None = None) -> Span:
    """Outputs lo..hi-1 of layer `join` along `axis`, back through the stage; `above`: the
    tile before along this axis (cached rows): what a buffer held there is kept, only the
    rows after it are made."""
    jt = g.nodes[join].outputs[0]
    held = {jt: (lo, hi)}
    sp = Span(held, {})
    for k in range(join, -1, -1):
        n = g.nodes[k]
        t = n.outputs[0]
        a, b = held[t]
        if above is not None and t != jt:
            p0, p1 = above.held[t]
            a2 = min(max(a, p1), b - 1)   # (recompute one row if all of them are held)
            if a2 > a:
                assert p0 <= a and a2 <= p1, (t, (p0, p1), (a, b))
                sp.kept[t] = (a - p0, a2 - a)
                sp.made[t] = (a, b) = (a2, b)
        r = _conv_span(convs[k], axis, a, b)[:2] if k in convs else (a, b)
        for j, t in enumerate(n.inputs):
            sp.reads[(k, j)] = r
            h = held.get(t)
            held[t] = r if h is None else (min(h[0], r[0]), max(h[1], r[1]))
    held[g.inputs[0]] = (0, _hwc(g, g.inputs[0])[axis])
    return sp


def regions(g: QGraph, join: int, tile: Box, convs: dict[int, _Conv] | None = None) -> Patch:
    """What each stage layer computes and reads for one tile of layer `join`'s output."""
    convs = conv_geometry(g) if convs is None else convs
    return PatchPlan(join, (1, 1), [_span(g, join, 0, tile.y0, tile.y1, convs)],
                     [_span(g, join, 1, tile.x0, tile.x1, convs)], {}, {}, 0).patches[0]


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    return [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]


def make(g: QGraph, join: int, grid: tuple[int, int], variant: str = "dsp",
         convs: dict[int, _Conv] | None = None, cached: bool = False) -> PatchPlan:
    """The patch plan of layers 0..join over a `grid` (rows, columns) of tiles; `cached`:
    down each column in turn, keeping rows instead of recomputing the vertical halo."""
    convs = conv_geometry(g) if convs is None else convs
    jt = g.nodes[join].outputs[0]
    h, w, c_join = _hwc(g, jt)
    rows: list[Span] = []
    for y0, y1 in _split(h, grid[0]):
        rows.append(_span(g, join, 0, y0, y1, convs, rows[-1] if cached and rows else None))
    cols = [_span(g, join, 1, x0, x1, convs) for x0, x1 in _split(w, grid[1])]
    # a box is a row span times a column span: the largest is the largest of each
    def most(spans: list[Span], f) -> int:
        return max(f(s) for s in spans)

    sizes = {t: most(rows, lambda s: s.extent(t)) * most(cols, lambda s: s.extent(t))
             * _hwc(g, t)[2] for t in rows[0].held if t not in (jt, g.inputs[0])}
    caches = {t: most(rows, lambda s: s.kept.get(t, (0, 0))[1])
              * most(cols, lambda s: s.extent(t)) * _hwc(g, t)[2]
              for t in {t for r in rows for t in r.kept}}
    windows = {}
    for (k, j) in rows[0].reads:   # columns apart in some tile: a copy (rows: an offset)
        t = g.nodes[k].inputs[j]
        if any(c.reads[(k, j)] != c.held[t] for c in cols):
            windows[(k, j)] = (most(rows, lambda s: s.reads[(k, j)][1] - s.reads[(k, j)][0])
                               * most(cols, lambda s: s.reads[(k, j)][1] - s.reads[(k, j)][0])
                               * _hwc(g, t)[2])
    tile = 0 if grid[1] == 1 else (most(rows, lambda s: s.extent(jt))
                                   * most(cols, lambda s: s.extent(jt)) * c_join)
    pp = PatchPlan(join, grid, rows, cols, sizes, windows, tile, stage=list(range(join + 1)),
                   cached=cached, caches=caches)
    pp.estimate = estimate(g, pp, variant, convs)
    return pp


# instructions per MAC by layer kind (first conv, depthwise, pointwise), per pointwise
# output element (requantization) and per element of an elementwise op; per kernel call a
# fixed cost plus one per output channel (per-channel set-up), per copied byte a fraction.
# dsp: least squares over every layer of the trained V1 0.25-96 (1 and 3 channels, pruned),
# V2 0.35-96 and ImageNet MobileNetV2 1.0-224 (QEMU counts of the kernels of main at
# 1936a39); per call from the extra instructions of eight cached-row grids of V1 0.25-96 RGB
# and V2 0.35-96's 12x2 (estimated 1.0-1.17x measured: the budget errs safe). mve: the
# first kernels' V1 0.25-96 counts; it now overestimates layers and patches alike (1.5-1.7x),
# which keeps its extra / total ratios within 1.5 points of QEMU's on the trained models.
_PER_MAC = {"dsp": (1.3, 2.46, 0.8, 3.9, 18.3), "mve": (1.4, 2.1, 0.13, 5.6, 13.5),
            "portable": (6.0, 6.0, 5.0, 10.0, 98.0)}
_PER_CALL = {"dsp": (2000, 150), "mve": (2000, 70), "portable": (1000, 0)}
# a layer run in place (inplace.py) costs a share of its layer-by-layer estimate and a
# call per band
_IN_PLACE_SHARE = 0.05
_PER_BYTE = 0.6


def _cost_terms(g: QGraph, k: int, variant: str, convs: dict[int, _Conv]
                ) -> tuple[float, float]:
    """Estimated instructions of one call of layer k: fixed, and per output pixel."""
    per = _PER_MAC.get(variant, _PER_MAC["portable"])
    fixed, per_channel = _PER_CALL.get(variant, _PER_CALL["portable"])
    c_out = _hwc(g, g.nodes[k].outputs[0])[2]
    call = fixed + per_channel * c_out
    if k in convs:
        cv = convs[k]
        return call, per[cv.kind] * cv.per_pixel + (per[3] * c_out if cv.kind == 2 else 0)
    return call, per[4] * c_out


def _node_cost(g: QGraph, k: int, out_hw: tuple[int, int], variant: str,
               convs: dict[int, _Conv]) -> float:
    call, per_pixel = _cost_terms(g, k, variant, convs)
    return call + per_pixel * out_hw[0] * out_hw[1]


def estimate(g: QGraph, pp: PatchPlan, variant: str, convs: dict[int, _Conv]
             ) -> tuple[int, int]:
    """Estimated instructions of layers 0..join: layer by layer, and in patches (calls
    over their windows, window and tile copies, cached rows saved and restored)."""
    base = sum(_node_cost(g, k, _hwc(g, g.nodes[k].outputs[0])[:2], variant, convs)
               for k in pp.stage)
    n = len(pp.rows) * len(pp.cols)
    patched = 0.0
    for k in pp.stage:   # output pixels over all patches: row extents times column extents
        t = g.nodes[k].outputs[0]
        call, per_pixel = _cost_terms(g, k, variant, convs)
        patched += call * n + per_pixel * (sum(r.extent(t, made=True) for r in pp.rows)
                                           * sum(c.extent(t) for c in pp.cols))
    copied = n * (sum(pp.windows.values()) + pp.tile) + sum(
        rows * sum(c.extent(t) for c in pp.cols) * _hwc(g, t)[2]
        for r in pp.rows for t, (_, rows) in r.kept.items())
    return int(base), int(patched + 2 * _PER_BYTE * copied)


def in_place_cost(g: QGraph, in_place: dict[int, tuple[int, int]], variant: str,
                  convs: dict[int, _Conv]) -> int:
    """Estimated extra instructions of the layers run in place (layer: (band, scratch))."""
    extra = 0.0
    for i, (band, _) in in_place.items():
        h, w, _ = _hwc(g, g.nodes[i].outputs[0])
        call, _ = _cost_terms(g, i, variant, convs)
        extra += _IN_PLACE_SHARE * _node_cost(g, i, (h, w), variant, convs) + call * -(-h // band)
    return int(extra)


def model_cost(g: QGraph, variant: str = "dsp") -> int:
    """Estimated instructions of the whole model layer by layer (the budget's base)."""
    convs = conv_geometry(g)
    return int(sum(_node_cost(g, k, _hwc(g, n.outputs[0])[:2], variant, convs)
                   for k, n in enumerate(g.nodes) if len(g.tensor(n.outputs[0]).shape) == 4
                   and ops.spec(n.op).mcu is not None))


def candidates(g: QGraph, variant: str, below: int | None = None) -> list[PatchPlan]:
    """Every stage end (whose input and join buffers alone stay `below` bytes) with square
    grids (halos recomputed) and grids of a few rows to one row of the join per patch by
    up to CACHED_COLUMNS columns (rows cached), tiles at least one pixel."""
    out = []
    convs = conv_geometry(g)
    for j in stage_ends(g):
        h, w, c = _hwc(g, g.nodes[j].outputs[0])
        if below is not None and h * w * c + planner.tensor_bytes(g, g.inputs[0]) >= below:
            continue   # the input and the join buffer alone reach it
        out += [make(g, j, (p, p), variant, convs) for p in GRIDS if p <= min(h, w)]
        rows = sorted({p for p in (*GRIDS, h // 4, h // 2, h) if 2 <= p <= h})
        out += [make(g, j, (p, q), variant, convs, cached=True)
                for p in rows for q in CACHED_COLUMNS if q <= w]
    return out


def choose(g: QGraph, mode: str, alignment: int, variant: str, room: int | None = None,
           budget: float = BUDGET) -> tuple[PatchPlan | None, dict[int, tuple[int, int]]]:
    """The patch plan for `mode` (None: layer by layer) and the in-place layers with it.
    "min": the smallest arena among the plans within `budget`; "auto": that plan only when
    the arena without patches exceeds `room` (the target's SRAM for activations) and the
    patched one fits; "fast": none."""
    in_place = inplace.choose(g, mode, alignment)
    if mode == "fast":
        return None, in_place
    base = planner.plan(g, alignment, in_place).arena_bytes
    if mode == "auto" and (room is None or base <= room):
        return None, in_place
    total = model_cost(g, variant)
    ranked = []
    one_row: dict[int, dict[int, tuple[int, int]]] = {}   # per join
    for pp in candidates(g, variant, base):
        extra = pp.estimate[1] - pp.estimate[0]
        if extra > budget * total:
            continue
        if pp.join not in one_row:
            one_row[pp.join] = {i: inplace.layer(g, i, 1) for i in inplace.eligible(g, pp.join)}
        bound = planner.lower_bound(planner.build_buffers(g, alignment, one_row[pp.join], pp)[0],
                                    len(g.nodes))[0]
        ranked.append((bound, extra, pp))
    ranked.sort(key=lambda r: r[:2])
    best: tuple[int, int, PatchPlan, dict[int, tuple[int, int]]] | None = None
    convs = conv_geometry(g)
    kept = 0
    for _, extra, pp in ranked[:8]:   # the two smallest within budget with in-place layers
        ip = inplace.choose(g, "auto", alignment, pp)
        extra += in_place_cost(g, ip, variant, convs)
        if extra > budget * total:
            continue
        arena = planner.plan(g, alignment, ip, pp).arena_bytes
        if best is None or (arena, extra) < best[:2]:
            best = (arena, extra, pp, ip)
        kept += 1
        if kept == 2:
            break
    if best is None or best[0] >= base or (mode == "auto" and best[0] > (room or 0)):
        return None, in_place
    return best[2], best[3]
