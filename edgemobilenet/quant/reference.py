"""The numpy reference executor: the oracle every backend must equal bit for bit.

Integer-only: int8 activations, int32 accumulation (int64 where an intermediate needs it),
the fixed-point helpers of `fixedpoint.py`, exactly as specified in `OPS.md`. No floats in
the inference path: of each tensor only the zero point is read; multipliers, shifts and
tables were computed offline by the converter. Each op's implementation is the
`reference` of its registry entry (`quant/ops/`).
"""
from __future__ import annotations

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor


def apply(node: QNode, inputs: list[np.ndarray], in_t: list[QTensor],
          out_t: QTensor) -> np.ndarray:
    """The reference output of `node` on `inputs` (tensors given, no graph needed)."""
    s = ops.spec(node.op, f"node '{node.name}'")
    return s.reference(node, s.attrs_of(node), inputs, in_t, out_t)


def run_node(g: QGraph, node: QNode, inputs: list[np.ndarray]) -> np.ndarray:
    """Run one node of `g` on the given input arrays (in the node's input order)."""
    out_t = g.tensors[node.outputs[0]]
    y = apply(node, inputs, [g.tensors[t] for t in node.inputs], out_t)
    if y.shape != tuple(out_t.shape):
        raise EdgembError(f"node '{node.name}' ({node.op}): produced shape {y.shape}, "
                          f"graph declares {tuple(out_t.shape)}")
    return y


def run(g: QGraph, x: np.ndarray, *, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run `g` on one int8 input in the graph input's NHWC shape.

    Returns the graph outputs by tensor name, or every tensor (input included) when
    `keep_all`. Tensors are dropped as soon as no later node reads them otherwise.
    """
    if len(g.inputs) != 1:
        raise EdgembError(f"graph has {len(g.inputs)} inputs; run() takes exactly one")
    t_in = g.tensors[g.inputs[0]]
    x = np.asarray(x)
    if x.dtype != np.int8 or x.shape != tuple(t_in.shape):
        raise EdgembError(f"input '{t_in.name}': expected int8 {tuple(t_in.shape)}, "
                          f"got {x.dtype} {x.shape}")
    last_use = {t: i for i, n in enumerate(g.nodes) for t in n.inputs}
    env = {t_in.name: x}
    for i, node in enumerate(g.nodes):
        env[node.outputs[0]] = run_node(g, node, [env[t] for t in node.inputs])
        if not keep_all:
            for t in node.inputs:
                if last_use.get(t) == i and t not in g.outputs:
                    env.pop(t, None)
    return env if keep_all else {t: env[t] for t in g.outputs}
