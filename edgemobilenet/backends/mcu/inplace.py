"""Compile pass "in-place depthwise" (`edgemb compile --memory min|fast|auto`): which
depthwise layers write their output over their own input, and in bands of how many rows.

Such a layer runs `emb_conv2d_inplace_s8` (firmware/kernels/portable/emb_conv2d_inplace.c):
the variant's depthwise kernel computes bands of output rows into a scratch of a few rows,
and a finished row is copied over the buffer once no later band reads the input bytes it
covers. The planner (planner.py) then holds input and output in one buffer and the scratch
as a buffer live at that layer only, so the plan and its lower bound count both.
Modes: "fast" never; "min" every legal layer; "auto" only the layers that lower the
arena. Either way each layer gets the widest band (fewest kernel calls: a band costs the
kernel's per-call setup again) that keeps the arena of one-row bands everywhere.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from edgemobilenet.backends.mcu import planner
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph

if TYPE_CHECKING:
    from edgemobilenet.backends.mcu.patch_plan import PatchPlan

MEMORY_MODES = ("auto", "fast", "min")


def eligible(g: QGraph, after: int = -1) -> list[int]:
    """Depthwise layers after layer `after` (the patched stage's join) that may run in
    place: the input dies there, is no graph output, and the output is no larger than it."""
    buffers, of = planner.build_buffers(g, 4)
    out = []
    for i, n in enumerate(g.nodes):
        if n.op != "conv2d" or i <= after:
            continue
        a = ops.attrs_of(n)
        c_in = g.tensor(n.inputs[0]).shape[-1]
        c_out = g.tensor(n.outputs[0]).shape[-1]
        src = of[n.inputs[0]]
        if (a.groups == c_in == c_out and a.groups > 1 and src.end == i
                and not set(src.tensors) & set(g.outputs)
                and planner.tensor_bytes(g, n.outputs[0]) <= planner.tensor_bytes(g, n.inputs[0])):
            out.append(i)
    return out


def scratch_rows(g: QGraph, i: int, band: int) -> int:
    """Most output rows emb_conv2d_inplace_s8 holds in its scratch at once (mirrors its
    loop, so the scratch the plan reserves is exactly what the kernel uses)."""
    n = g.nodes[i]
    a = ops.attrs_of(n)
    _, in_h, in_w, c = g.tensor(n.inputs[0]).shape
    _, out_h, out_w, _ = g.tensor(n.outputs[0]).shape
    kh = n.params["weight"].shape[1]
    owc, iwc = out_w * c, in_w * c
    sh, pt = a.stride[0], a.padding[0]
    done, most = 0, 0
    for r0 in range(0, out_h, band):
        r1 = min(r0 + band, out_h)
        most = max(most, r1 - done)
        nxt = max(r1 * sh - pt, 0) if r1 < out_h else in_h
        j = done
        while j < r1 and (j + 1) * owc <= nxt * iwc:
            j += 1
        done = j
    return most


def layer(g: QGraph, i: int, band: int) -> tuple[int, int]:
    """(band rows, scratch bytes) of layer i run in place."""
    _, _, out_w, c = g.tensor(g.nodes[i].outputs[0]).shape
    return band, scratch_rows(g, i, band) * out_w * c


def choose(g: QGraph, mode: str, alignment: int, patch: PatchPlan | None = None
           ) -> dict[int, tuple[int, int]]:
    """The layers to run in place for `mode` (after the patched stage, if any), each with
    (band rows, scratch bytes)."""
    if mode not in MEMORY_MODES:
        raise EdgembError(f"memory mode must be one of {', '.join(MEMORY_MODES)}, "
                          f"not '{mode}'")
    if mode == "fast":
        return {}
    chosen = {i: layer(g, i, 1) for i in eligible(g, patch.join if patch else -1)}
    if not chosen:
        return chosen

    def arena(c: dict[int, tuple[int, int]]) -> int:
        return planner.plan(g, alignment, c, patch).arena_bytes

    target = arena(chosen)
    if mode == "auto" and target >= arena({}):
        return {}
    for i in list(chosen):   # (auto) drop what does not help; widen the bands
        trial = {k: v for k, v in chosen.items() if k != i}
        if mode == "auto" and arena(trial) <= target:
            chosen = trial
            continue
        out_h = g.tensor(g.nodes[i].outputs[0]).shape[1]
        band = 1
        while band * 2 < out_h and arena({**chosen, i: layer(g, i, band * 2)}) <= target:
            band *= 2
        chosen[i] = layer(g, i, band)
    return chosen
