"""The op registry: one `OpSpec` per QGraph op, the only place that says what an op is.

An entry holds the op's typed attributes (a frozen dataclass whose field defaults are the
defaults), its inputs and parameters, its extra validity rules (OPS.md's, checked by
`qgraph.validate`), its numpy reference implementation, its MAC count and the C ABI of its
MCU kernel (`mcu.py`). Backends attach their lowering to an entry with `register_lowering`
(the way TVM attaches per-target attributes to its ops) and dispatch with `lowering`.
See README.md beside this file for adding an op.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.ir import QGraph, QNode, QTensor
from edgemobilenet.quant.ops.mcu import McuKernel

A = TypeVar("A")
Arrays = list[np.ndarray]
# reference(node, attrs, inputs, input tensors, output tensor) -> output array
Reference = Callable[["QNode", Any, Arrays, "list[QTensor]", "QTensor"], np.ndarray]
# check(graph, node, attrs) -> what is wrong, or None
Check = Callable[["QGraph", "QNode", Any], "str | None"]

PARAM_DTYPES = {"weight": "int8", "bias": "int32", "multiplier": "int32", "shift": "int32",
                "table": "int8", "exp_table": "int32", "w_scale": "float32", "rows": "int32",
                "cols": "int32"}


@dataclass(frozen=True)
class NoAttrs:
    """Attributes of an op that has none."""


@dataclass(frozen=True)
class Activation:
    """The int8 output clamp every requantizing op carries (ReLU/ReLU6 folded in)."""

    act_min: int = -128
    act_max: int = 127


@dataclass
class OpSpec(Generic[A]):
    """What one QGraph op is. `n_inputs` -1: variadic; `params`: required parameters."""

    name: str
    n_inputs: int
    params: tuple[str, ...]
    attrs: type[A]
    reference: Reference
    check: Check | None = None
    macs: Callable[["QGraph", "QNode"], int] = lambda g, n: 0
    mcu: "McuKernel | None" = None
    aliases_input: bool = False   # the output is a relabelling of input 0 (no data moves)
    lowerings: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def attrs_of(self, node: "QNode") -> A:
        """The node's attributes as the typed dataclass (lists become tuples)."""
        names = {f.name for f in dataclasses.fields(self.attrs)}
        unknown = sorted(set(node.attrs) - names)
        if unknown:
            raise EdgembError(f"node '{node.name}' ({node.op}): unknown attribute(s) "
                              f"{', '.join(unknown)} (known: {', '.join(sorted(names)) or 'none'})")
        try:
            return self.attrs(**{k: _plain(v) for k, v in node.attrs.items()})
        except (TypeError, ValueError) as e:
            raise EdgembError(f"node '{node.name}' ({node.op}): bad attributes ({e})") from None


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


OPS: dict[str, OpSpec[Any]] = {}


def register(spec: OpSpec[A]) -> OpSpec[A]:
    if spec.name in OPS:
        raise ValueError(f"op '{spec.name}' is registered twice")
    OPS[spec.name] = spec
    return spec


def spec(op: str, where: str = "") -> OpSpec[Any]:
    """The entry for `op`; EdgembError naming `where` when the op is unknown."""
    s = OPS.get(op)
    if s is None:
        raise EdgembError(f"{where + ': ' if where else ''}unknown op '{op}' "
                          f"(known: {', '.join(sorted(OPS))})")
    return s


def attrs_of(node: "QNode") -> Any:
    """Typed attributes of `node` (its op's dataclass, defaults filled in)."""
    return spec(node.op, f"node '{node.name}'").attrs_of(node)


def activation(node: QNode) -> Activation:
    """The node's int8 output clamp; the whole int8 range for an op that carries none."""
    a = attrs_of(node)
    return a if isinstance(a, Activation) else Activation()


def register_lowering(backend: str, op: str, fn: Callable[..., Any]) -> None:
    """Attach `backend`'s lowering of `op` (called by the backend module at import)."""
    spec(op).lowerings[backend] = fn


def lowering(backend: str, node: "QNode") -> Callable[..., Any]:
    """`backend`'s lowering of `node`'s op; EdgembError naming the node when it has none."""
    fn = spec(node.op, f"node '{node.name}'").lowerings.get(backend)
    if fn is None:
        raise EdgembError(f"{backend} backend: node '{node.name}': op '{node.op}' is not "
                          f"supported")
    return fn
