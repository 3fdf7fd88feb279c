"""Float graph passes: fold batch norm into the preceding conv/linear, fuse ReLU/ReLU6.

After `prepare` the graph holds only ops the converter maps 1:1 to QGraph ops.
"""
from __future__ import annotations

import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.floatgraph import FloatGraph, FNode

_FUSABLE = ("conv2d", "linear", "add")


def _replace_uses(g: FloatGraph, old: str, new: str) -> None:
    for n in g.nodes:
        n.inputs = [new if t == old else t for t in n.inputs]
    if g.output == old:
        g.output = new


def _sole_producer(g: FloatGraph, tensor: str, ops: tuple[str, ...]) -> FNode | None:
    """The node producing `tensor` if its op is in `ops` and nothing else reads it."""
    prod = next((n for n in g.nodes if n.name == tensor), None)
    if prod is None or prod.op not in ops or len(g.consumers(tensor)) != 1:
        return None
    if tensor == g.output:
        return None
    return prod


def fold_batch_norm(g: FloatGraph) -> FloatGraph:
    """Fold each batch_norm into its producer conv2d/linear, else make it a depthwise 1x1 conv."""
    for bn in [n for n in g.nodes if n.op == "batch_norm"]:
        scale, shift = bn.params["scale"], bn.params["shift"]
        prod = _sole_producer(g, bn.inputs[0], ("conv2d", "linear"))
        if prod is not None and prod.attrs.get("act", "none") == "none":
            w = prod.params["weight"]
            prod.params["weight"] = w * scale.reshape((-1,) + (1,) * (w.dim() - 1))
            prod.params["bias"] = prod.params["bias"] * scale + shift
            g.nodes.remove(bn)
            _replace_uses(g, bn.name, prod.name)
            continue
        if len(g.shapes.get(bn.inputs[0], (0, 0, 0, 0))) != 4:
            raise EdgembError(f"layer '{bn.name}': batch norm that does not follow a conv or "
                              f"linear layer on a (N, C) tensor is not supported")
        c = scale.numel()
        bn.op = "conv2d"
        bn.params = {"weight": scale.reshape(c, 1, 1, 1).clone(), "bias": shift.clone()}
        bn.attrs = {"stride": [1, 1], "padding": [0, 0, 0, 0], "dilation": [1, 1],
                    "groups": c, "act": "none"}
    return g


def fuse_activations(g: FloatGraph) -> FloatGraph:
    """Fold ReLU/ReLU6 into the conv2d/linear/add that alone feeds them."""
    for act in [n for n in g.nodes if n.op in ("relu", "relu6")]:
        prod = _sole_producer(g, act.inputs[0], _FUSABLE)
        if prod is None or prod.attrs.get("act", "none") != "none":
            continue
        prod.attrs["act"] = act.op
        g.nodes.remove(act)
        _replace_uses(g, act.name, prod.name)
    return g


def prepare(g: FloatGraph) -> FloatGraph:
    """The standard pipeline: fold BN, fuse activations, refresh shapes."""
    with torch.no_grad():
        fold_batch_norm(g)
        fuse_activations(g)
    g.infer_shapes()
    return g
