"""resize_table (OPS.md): resizing by per-row and per-column Q10 tables (TFLite's
RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemobilenet.quant.fixedpoint import saturate_int8
from edgemobilenet.quant.ops.avg_pool import same_quantization
from edgemobilenet.quant.ops.mcu import OUT, KernelContext, McuKernel, const, inp, ints
from edgemobilenet.quant.ops.registry import OpSpec, register


@dataclass(frozen=True)
class ResizeTableAttrs:
    mode: str = "bilinear"        # information: which TFLite rule made the tables
    align_corners: int = 0
    half_pixel: int = 0


def reference(node, a: ResizeTableAttrs, inputs, in_t, out_t) -> np.ndarray:
    x = inputs[0][0].astype(np.int64)
    r, c = node.params["rows"].astype(np.int64), node.params["cols"].astype(np.int64)
    v = np.zeros((len(r), len(c), x.shape[2]), np.int64)
    for i in range(2):
        for j in range(2):
            v += x[r[:, i]][:, c[:, j]] * (r[:, 2 + i, None, None] * c[None, :, 2 + j, None])
    q = v + np.where(v > 0, 1 << 19, -(1 << 19))
    return saturate_int8(np.sign(q) * (np.abs(q) >> 20))[None]


def check(g, node, a: ResizeTableAttrs) -> str | None:
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    r, c = node.params["rows"], node.params["cols"]
    if len(x.shape) != 4 or len(y.shape) != 4 or r.shape != (y.shape[1], 4) or \
            c.shape != (y.shape[2], 4) or x.shape[3] != y.shape[3]:
        return f"tables {r.shape} / {c.shape} do not fit {tuple(x.shape)} -> {tuple(y.shape)}"
    for t, n in ((r, x.shape[1]), (c, x.shape[2])):
        if (t[:, :2] < 0).any() or (t[:, :2] >= n).any() or (np.abs(t[:, 2:]) > 4096).any():
            return "table indices out of range or weights beyond 4096"
    if a.mode not in ("bilinear", "nearest"):
        return f"mode {a.mode!r} (bilinear or nearest)"
    return same_quantization(g, node)


def _call(ctx: KernelContext):
    (h, w, c), (oh, ow, _) = ctx.hwc(0), ctx.hwc()
    p = ctx.node.params
    return [{"in_h": h, "in_w": w, "c": c, "out_h": oh, "out_w": ow, "in": 0,
             "rows": p["rows"], "cols": p["cols"]}]


SPEC = register(OpSpec(
    "resize_table", 1, ("rows", "cols"), ResizeTableAttrs, reference, check,
    mcu=McuKernel("emb_resize_table_s8",
                  (*ints("in_h", "in_w", "c", "out_h", "out_w"), inp("in"),
                   const("rows", "int32_t"), const("cols", "int32_t"), OUT), _call)))
