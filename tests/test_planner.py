"""Memory planner: no two live tensors overlap, aliases share bytes, arena near the bound."""
from __future__ import annotations

import numpy as np
import pytest

from edgemobilenet.backends.mcu import planner
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor


def _graph(shapes: dict[str, tuple[int, ...]], nodes: list[tuple[str, list[str], str]],
           inputs: list[str], outputs: list[str]) -> QGraph:
    """Structure-only graph (the planner reads shapes and edges, not parameters)."""
    tensors = {n: QTensor(n, s) for n, s in shapes.items()}
    qn = [QNode(f"n{i}", op, ins, [out]) for i, (op, ins, out) in enumerate(nodes)]
    return QGraph(tensors, qn, inputs, outputs)


def _random_graph(rng: np.random.Generator, n: int) -> QGraph:
    """A chain with random skip connections (adds) and random sizes."""
    shapes = {"t0": (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 17)))}
    nodes = []
    names = ["t0"]
    for i in range(1, n + 1):
        out = f"t{i}"
        prev = names[-1]
        r = rng.random()
        same = [t for t in names[:-1] if shapes[t] == shapes[prev]]
        if r < 0.2 and same:
            shapes[out] = shapes[prev]
            nodes.append(("add", [prev, same[int(rng.integers(0, len(same)))]], out))
        elif r < 0.35:
            shapes[out] = shapes[prev]
            nodes.append(("lut", [prev], out))
        elif r < 0.45:
            shapes[out] = (1, int(np.prod(shapes[prev])))
            nodes.append(("reshape", [prev], out))
        else:
            shapes[out] = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 33)))
            nodes.append(("conv2d", [prev], out))
        names.append(out)
    return _graph(shapes, nodes, ["t0"], [names[-1]])


def _check_no_overlap(g: QGraph, p: planner.MemoryPlan) -> None:
    bufs = p.buffers
    for i, a in enumerate(bufs):
        assert a.offset % p.alignment == 0
        assert a.offset + a.size <= p.arena_bytes
        for b in bufs[i + 1:]:
            if a.overlaps_in_time(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    # every node's inputs are still intact when it runs: their buffers live at that step
    for step, node in enumerate(g.nodes):
        for t in node.inputs:
            b = next(b for b in bufs if t in b.tensors)
            assert b.start <= step <= b.end


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_never_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = _random_graph(rng, int(rng.integers(1, 30)))
    for align in (4, 16):
        p = planner.plan(g, alignment=align)
        _check_no_overlap(g, p)
        assert p.lower_bound <= p.arena_bytes
        assert set(p.offsets) == set(g.tensors)


def test_chain_reuses_memory_and_meets_bound() -> None:
    shapes = {"x": (1, 8, 8, 4), "a": (1, 8, 8, 8), "b": (1, 8, 8, 8), "c": (1, 4, 4, 8)}
    g = _graph(shapes, [("conv2d", ["x"], "a"), ("conv2d", ["a"], "b"), ("conv2d", ["b"], "c")],
               ["x"], ["c"])
    p = planner.plan(g)
    # x (256) dies after step 0, so c can reuse its bytes; peak is a + b = 1024
    assert p.lower_bound == 1024
    assert p.arena_bytes == 1024
    assert p.live_bytes == [256 + 512, 1024, 512 + 128]
    assert p.peak_layer == 1


def test_reshape_and_inplace_lut_alias() -> None:
    shapes = {"x": (1, 2, 2, 4), "a": (1, 2, 2, 4), "b": (1, 2, 2, 4), "r": (1, 16), "y": (1, 16)}
    g = _graph(shapes, [("conv2d", ["x"], "a"), ("lut", ["a"], "b"), ("reshape", ["b"], "r"),
                        ("fully_connected", ["r"], "y")], ["x"], ["y"])
    p = planner.plan(g)
    assert p.offsets["a"] == p.offsets["b"] == p.offsets["r"]
    assert p.offsets["y"] != p.offsets["r"]


def test_lut_does_not_overwrite_a_tensor_used_later() -> None:
    shapes = {"x": (1, 4), "a": (1, 4), "b": (1, 4)}
    g = _graph(shapes, [("lut", ["x"], "a"), ("add", ["a", "x"], "b")], ["x"], ["b"])
    p = planner.plan(g)
    assert p.offsets["a"] != p.offsets["x"]
    _check_no_overlap(g, p)


def test_mobilenet_like_arena_within_5_percent_of_bound() -> None:
    """Inverted residual stack: the greedy plan lands within 5% of the lower bound."""
    shapes, nodes = {"x": (1, 32, 32, 16)}, []
    prev, hw, c = "x", 32, 16
    for i, (exp, out, stride) in enumerate([(6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1)]):
        e, d, o = f"e{i}", f"d{i}", f"o{i}"
        shapes[e] = (1, hw, hw, c * exp)
        hw //= stride
        shapes[d] = (1, hw, hw, c * exp)
        shapes[o] = (1, hw, hw, out)
        nodes += [("conv2d", [prev], e), ("conv2d", [e], d), ("conv2d", [d], o)]
        if stride == 1 and c == out:
            shapes[f"s{i}"] = shapes[o]
            nodes.append(("add", [o, prev], f"s{i}"))
            o = f"s{i}"
        prev, c = o, out
    g = _graph(shapes, nodes, ["x"], [prev])
    p = planner.plan(g, alignment=16)
    _check_no_overlap(g, p)
    assert p.arena_bytes <= 1.05 * p.lower_bound
