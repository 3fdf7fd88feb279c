"""Per-layer signal-to-quantization-noise ratio: the int8 QGraph against its float graph."""
from __future__ import annotations

import math

import numpy as np
import torch

from edgemobilenet.quant import ops, reference
from edgemobilenet.quant.convert import dequantize, quantize_input
from edgemobilenet.quant.floatgraph import FloatGraph, run
from edgemobilenet.quant.qgraph import QGraph


def _as_qlayout(g: FloatGraph, values: dict[str, torch.Tensor], name: str) -> np.ndarray:
    """A float tensor in the QGraph's NHWC layout (flattens follow NHWC order)."""
    node = next((n for n in g.nodes if n.name == name), None)
    if node is not None and node.op == "flatten":
        src = values[node.inputs[0]]
        return src.permute(0, 2, 3, 1).reshape(src.shape[0], -1).numpy()
    v = values[name]
    return (v.permute(0, 2, 3, 1) if v.dim() == 4 else v).numpy()


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal power / noise power); inf when equal."""
    noise = float(np.sum((ref.astype(np.float64) - test) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-30) / noise)


def layer_sqnr(g: FloatGraph, q: QGraph, x: torch.Tensor) -> dict[str, float]:
    """SQNR in dB of every QGraph tensor that has a float counterpart, over images x (NCHW)."""
    with torch.no_grad():
        fvals = run(g, x.float(), keep_all=True)
    xq = quantize_input(q, x)
    qvals: dict[str, list[np.ndarray]] = {}
    for i in range(xq.shape[0]):
        for name, v in reference.run(q, xq[i:i + 1], keep_all=True).items():
            qvals.setdefault(name, []).append(v)
    out = {}
    for name, parts in qvals.items():
        if name not in fvals:
            continue
        deq = dequantize(q.tensors[name], np.concatenate(parts))
        out[name] = sqnr_db(_as_qlayout(g, fvals, name), deq)
    return out


def layer_report(g: FloatGraph, q: QGraph, x: torch.Tensor | None) -> list[dict]:
    """One row per QGraph node: layer, op, output scale and zero point, SQNR (dB or None)."""
    db = layer_sqnr(g, q, x) if x is not None and len(x) else {}
    rows = []
    for n in q.nodes:
        t = q.tensors[n.outputs[0]]
        v = db.get(n.outputs[0])
        op = f"{n.op} {ops.attrs_of(n).fn}" if n.op == "lut" else n.op
        rows.append({"layer": n.name, "op": op, "scale": t.scale, "zero_point": t.zero_point,
                     "sqnr_db": None if v is None or math.isinf(v) else round(v, 2)})
    return rows
