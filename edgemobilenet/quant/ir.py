"""The QGraph IR: tensors, nodes and the graph as plain dataclasses, and their canonical
serialisation (the model hash). A leaf module: it imports nothing of edgemobilenet, so the
op registry (`ops/`) and every frontend and backend can name these types without a cycle.
`qgraph.py` adds validation against the registry and the `.qgraph` file format.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "edgemb-qgraph"
VERSION = 1


@dataclass
class QTensor:
    """An int8 (or int32) tensor: real = scale * (q - zero_point)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: float = 1.0
    zero_point: int = 0


@dataclass
class QNode:
    """One op; `name` is the layer path in the source model (for error messages)."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class QGraph:
    """Nodes in execution (topological) order over named tensors."""

    tensors: dict[str, QTensor]
    nodes: list[QNode]
    inputs: list[str]
    outputs: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def tensor(self, name: str) -> QTensor:
        return self.tensors[name]

    def producer(self, tensor: str) -> QNode | None:
        return next((n for n in self.nodes if tensor in n.outputs), None)

    def digest(self) -> str:
        """sha256 of the canonical serialisation: the model hash devices report."""
        h = hashlib.sha256(json.dumps(structure(self), sort_keys=True).encode())
        for node in self.nodes:
            for key in sorted(node.params):
                h.update(np.ascontiguousarray(node.params[key]).tobytes())
        return h.hexdigest()


def structure(g: QGraph) -> dict[str, Any]:
    """The graph without its parameter arrays, as JSON-ready data (shapes, dtypes only)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "meta": g.meta,
        "inputs": g.inputs,
        "outputs": g.outputs,
        "tensors": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
             "scale": float(t.scale), "zero_point": int(t.zero_point)}
            for t in g.tensors.values()
        ],
        "nodes": [
            {"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs,
             "attrs": n.attrs,
             "params": {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                        for k, v in sorted(n.params.items())}}
            for n in g.nodes
        ],
    }
