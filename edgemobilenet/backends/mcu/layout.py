"""Compile pass "choose weight layouts and placement": check that the model fits and decide
where the constants and the arena live (flash / SRAM or the target's bulk region) and
which dsp pointwise layers keep compact int8 weights (packing.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgemobilenet.backends.mcu import kernel_args, packing, planner
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target

BULK_CONST, BULK_ARENA = ".emb_bulk", ".emb_bulk_bss"   # firmware/boards/common/sections.ld
# flash the code, runtime and kernels take beyond the weights (ELF text minus const_bytes:
# trained MobileNetV2 0.35-96 with the dsp kernels' five unrolled w16 runs (the signed S form
# the fifth) takes 60.9 KB on mps2-an386 (56.1 KB with four), 37.9 KB with mve on mps3-an547;
# with the mve kernels' hand-written loops MobileNetV2 0.35-32 on mps3-an547 takes 32.6 KB,
# over 40 KB in a patched plan: tests/test_patch_qemu.py). 64 KB is 6 % of the smallest dsp
# board's flash (stm32f746g-disco, 1 MB), where that V2 needs 981 KB.
CODE_ALLOWANCE = 64 * 1024
CODE_ALLOWANCE_MVE = 48 * 1024


def code_allowance(variant: str) -> int:
    return CODE_ALLOWANCE_MVE if variant == "mve" else CODE_ALLOWANCE


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 10 * 1024 else f"{n / 1024:.1f} KB"


WEIGHT_LAYOUTS = ("auto", "fast", "compact")


def const_bytes(g: QGraph, variant: str, compact: frozenset[int] = frozenset()) -> int:
    """Bytes of the constant arrays the generated code holds (weights, biases,
    requantization, tables): the `const` arguments of each layer's kernel calls
    (kernel_args); the layers in `compact` keep dsp pointwise weights int8."""
    total = 0
    for i, n in enumerate(g.nodes):
        if ops.spec(n.op).mcu is None:
            continue
        arrays = [a.name for a in kernel_args.kernel(n).args if a.kind == "const"]
        for values in kernel_args.calls(n, [g.tensor(t) for t in n.inputs],
                                        g.tensor(n.outputs[0]), variant, i in compact):
            total += sum(int(np.asarray(values[a]).nbytes) for a in arrays)
    return total


def compact_candidates(g: QGraph, variant: str) -> list[int]:
    """Layers whose weights the compact layout halves, cheapest first: the smallest output
    (fewest MACs per weight byte saved) loses the least speed per byte."""
    if variant != "dsp":
        return []
    idx = [i for i, n in enumerate(g.nodes) if n.op == "conv2d" and
           packing.has_w16_pointwise(n, n.params["weight"])]
    return sorted(idx, key=lambda i: int(np.prod(g.tensor(g.nodes[i].outputs[0]).shape)))


def choose_compact(g: QGraph, variant: str, layout: str, budget: int) -> frozenset[int]:
    """The layers to keep compact: none ("fast"), all ("compact"), or ("auto") the fewest,
    cheapest first, that bring the weights within `budget` bytes (all if none does)."""
    cands = compact_candidates(g, variant)
    if layout == "fast" or not cands:
        return frozenset()
    if layout == "compact":
        return frozenset(cands)
    need = const_bytes(g, variant) - budget
    chosen: list[int] = []
    for i in cands:
        if need <= 0:
            break
        n = g.nodes[i]
        w = n.params["weight"]
        need -= packing.pack_weights(n, w, variant).nbytes - w.nbytes
        chosen.append(i)
    return frozenset(chosen)


@dataclass
class Placement:
    """Where the constants and the arena go: None is the default (flash / RAM); a name is
    a section of the target's bulk memory region."""

    const_section: str | None = None
    arena_section: str | None = None
    compact_layers: frozenset[int] = frozenset()   # dsp pointwise weights kept int8


def _sram_error(g: QGraph, plan: planner.MemoryPlan, target: Target, extra: str) -> EdgembError:
    i = plan.peak_layer
    node = g.nodes[i]
    live = sorted(((b.size, b.tensors[0]) for b in plan.buffers if b.start <= i <= b.end),
                  reverse=True)[:3]
    detail = ", ".join(f"{t} {_kb(s)}" for s, t in live)
    return EdgembError(
        f"model needs {_kb(plan.arena_bytes)} SRAM for activations, {target.name} has "
        f"{_kb(target.sram_bytes or 0)}, {_kb(target.reserved_sram_bytes or 0)} reserved for "
        f"stack and I/O{extra}; peak at layer '{node.name}' ({node.op}: {detail})")


def place(g: QGraph, plan: planner.MemoryPlan, target: Target,
          layout: str = "auto") -> Placement:
    """Check that the model fits (before anything is built) and choose where the weights
    and the arena live: flash and SRAM, else the target's bulk region if it has one.
    `layout` "fast" / "compact" chooses the dsp pointwise weight layout (packing.py) for
    every layer; "auto" keeps the fast one except on the fewest layers (cheapest first)
    whose compact weights make the model fit flash."""
    assert target.sram_bytes is not None and target.flash_bytes is not None
    if layout not in WEIGHT_LAYOUTS:
        raise EdgembError(f"weight layout must be one of {', '.join(WEIGHT_LAYOUTS)}, "
                          f"not '{layout}'")
    bulk = target.memory.bulk_length if target.memory else None
    variant = target.kernels or "portable"
    code = code_allowance(variant)
    compact = choose_compact(g, variant, layout, target.flash_bytes - code)
    weights = const_bytes(g, variant, compact)
    if layout == "auto" and bulk and weights + code > target.flash_bytes:
        compact = frozenset()   # the weights go to the bulk region anyway: keep them fast
        weights = const_bytes(g, variant)
    arena_out = plan.arena_bytes + (target.reserved_sram_bytes or 0) > target.sram_bytes
    const_out = weights + code > target.flash_bytes
    if arena_out and not bulk:
        raise _sram_error(g, plan, target, "")
    if const_out and not bulk:
        big = max(g.nodes, key=lambda n: sum(v.nbytes for v in n.params.values()))
        how = f" (pointwise weights int8 on {len(compact)} layers)" if compact else ""
        raise EdgembError(
            f"model needs {_kb(weights)} flash for weights{how} (+ about "
            f"{_kb(code)} code), {target.name} has {_kb(target.flash_bytes)}; "
            f"largest layer '{big.name}' ({big.op}, "
            f"{_kb(sum(v.nbytes for v in big.params.values()))})")
    in_bulk = weights * const_out + plan.arena_bytes * arena_out
    if bulk and in_bulk > bulk:
        raise _sram_error(g, plan, target, f" and its bulk region {_kb(bulk)} cannot hold "
                                           f"{_kb(in_bulk)} of weights and activations")
    return Placement(BULK_CONST if const_out else None, BULK_ARENA if arena_out else None,
                     compact)


def layout_record(g: QGraph, variant: str, compact: frozenset[int]) -> dict[str, Any]:
    """The manifest's record of the pointwise weight layout."""
    cands = compact_candidates(g, variant)
    kind = "fast" if not compact else "compact" if len(compact) == len(cands) else "mixed"
    return {"weight_layout": kind, "compact_layers": [g.nodes[i].name for i in sorted(compact)]}
