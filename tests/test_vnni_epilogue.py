"""x86 AVX-512 (`te_fixedpoint.PMULDQ`): the VNNI convolutions' requantize epilogue runs
its channel vectors outside the tile's pixels (`default_schedules._epilogue_at`), and a
graph of such convolutions stays bit-exact at the extremes on this host."""
from __future__ import annotations

import numpy as np
import tvm
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm.build import compile_module, host_target, lower, run_local
from edgemobilenet.quant import reference


def _graph():
    """Stem, pointwise 16 -> 48 (8 pixels x 3 channel blocks per tile), 3x3 conv to 24
    (padded to 32), with every weight of the packed convs at -128 or 127."""
    b = GraphBuilder(np.random.default_rng(5), (1, 8, 8, 3), 0.05, -10)
    x = b.conv2d("input", 16, kernel=3, act="relu6")
    x = b.conv2d(x, 48, kernel=1)
    x = b.conv2d(x, 24, kernel=3, act="relu")
    g = b.build(x)
    for n in g.nodes[1:]:
        w = n.params["weight"]
        n.params["weight"] = np.where(w >= 0, 127, -128).astype(np.int8)
    return g


def _loops_around(stmt, name: str, path=()) -> list[tuple[int, bool]] | None:
    """(extent, unrolled) of the loops around the block `name`, outermost first."""
    if isinstance(stmt, tvm.tirx.For):
        path = path + ((int(stmt.extent), int(stmt.kind) == int(tvm.tirx.ForKind.UNROLLED)),)
    if isinstance(stmt, tvm.s_tir.stmt.SBlock) and stmt.name_hint == name:
        return list(path)
    kids = [getattr(stmt, f, None) for f in ("block", "body", "then_case", "else_case")]
    kids += list(getattr(stmt, "seq", []))
    for k in kids:
        if isinstance(k, tvm.tirx.Stmt) and (found := _loops_around(k, name, path)):
            return found
    return None


def test_pointwise_epilogue_runs_channel_vectors_outside_pixels():
    assert tfp.form(host_target()) == tfp.PMULDQ
    mod = lower(_graph(), host_target())
    (f,) = [f for gv, f in mod.functions.items() if "conv_packed1" in gv.name_hint]
    unrolled = [e for e, unroll in _loops_around(f.body, "requant") if unroll]
    assert unrolled[-2:] == [3, 8], unrolled


def test_vnni_convs_bit_exact_at_extremes():
    g = _graph()
    ex = compile_module(lower(g, host_target()), host_target())
    shape = g.tensors[g.inputs[0]].shape
    for x in (np.full(shape, -128, np.int8), np.full(shape, 127, np.int8),
              np.random.default_rng(1).integers(-128, 128, shape, dtype=np.int8)):
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]],
                                      reference.run(g, x)[g.outputs[0]])
