"""Packed convolutions split their parallel loop evenly over the target's cores
(`default_schedules.channel_groups`): TVM gives each thread one chunk of ceil(extent /
threads) iterations, so 7 rows on 2 threads run as 7 rows x 2 channel groups; bit-exact."""
from __future__ import annotations

import numpy as np
import pytest
import tvm
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm import layouts
from edgemobilenet.backends.tvm.build import compile_module, host_target, lower, run_local
from edgemobilenet.backends.tvm.default_schedules import channel_groups
from edgemobilenet.quant import reference

VNNI_TARGET = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "sapphirerapids"}


def _graph():
    """Stem (stride 2) to 7x7x16, pointwise 16 -> 96 (tiles of 7 pixels x 3 channel blocks:
    2 tiles per pixel row), pointwise 96 -> 80 (5 blocks, 1 per tile: 5 tiles per row)."""
    b = GraphBuilder(np.random.default_rng(7), (1, 14, 14, 3), 0.05, -3)
    x = b.conv2d("input", 16, kernel=3, stride=2, padding=[1, 1, 0, 0], act="relu6")
    x = b.conv2d(x, 96, kernel=1, act="relu6")
    x = b.conv2d(x, 80, kernel=1)
    return b.build(x)


def _parallel_extents(stmt) -> list[int]:
    if isinstance(stmt, tvm.tirx.For) and int(stmt.kind) == int(tvm.tirx.ForKind.PARALLEL):
        return [int(stmt.extent)]
    kids = [getattr(stmt, f, None) for f in ("block", "body", "then_case", "else_case")]
    kids += list(getattr(stmt, "seq", []))
    return [e for k in kids if isinstance(k, tvm.tirx.Stmt) for e in _parallel_extents(k)]


def _conv_parallel(target: dict) -> dict[int, list[int]]:
    """{output channels: parallel loop extents} of the graph's packed convolutions."""
    mod = lower(_graph(), target)
    return {int(f.params[-1].shape[-1]): _parallel_extents(f.body)
            for gv, f in mod.functions.items() if "conv_packed" in gv.name_hint}


@pytest.mark.parametrize("rows, blocks, threads, groups", [
    (7, 20, 2, 2), (14, 20, 2, 1), (56, 3, 2, 1), (7, 5, 2, 5), (7, 7, 2, 7),
    (7, 20, 1, 1), (7, 20, 4, 4), (14, 20, 4, 2), (7, 1, 2, 1)])
def test_channel_groups_balance_the_threads(rows, blocks, threads, groups):
    assert channel_groups(rows, blocks, threads) == groups


def test_vnni_convs_split_rows_by_channel_groups_for_the_cores():
    assert _conv_parallel({**VNNI_TARGET, "num-cores": 2}) == {16: [7], 96: [14], 80: [35]}
    assert _conv_parallel({**VNNI_TARGET, "num-cores": 1}) == {16: [7], 96: [7], 80: [7]}


@pytest.mark.skipif(layouts.select(host_target()) is not layouts.VNNI,
                    reason="the host has no AVX512-VNNI")
def test_channel_groups_bit_exact_on_host():
    g = _graph()
    target = {**host_target(), "num-cores": 2}
    ex = compile_module(lower(g, target), target)
    shape = g.tensors[g.inputs[0]].shape
    for x in (np.full(shape, -128, np.int8), np.full(shape, 127, np.int8),
              np.random.default_rng(2).integers(-128, 128, shape, dtype=np.int8)):
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]],
                                      reference.run(g, x)[g.outputs[0]])
