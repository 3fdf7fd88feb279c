"""Dot-product layouts: convolutions and dense layers with packed, channel-padded weights
(and the uint8 shift with its bias fold for VNNI) equal the numpy reference bit for bit.
A layout that is not the host's own is scheduled without its intrinsic, so every layout
runs on any host."""
from __future__ import annotations

import numpy as np
import pytest
from qgraph_builders import GraphBuilder, sample_input

from edgemobilenet.backends.tvm import layouts
from edgemobilenet.backends.tvm.build import compile_qgraph, host_target, run_local
from edgemobilenet.quant import reference


def _packed_graph():
    """3x3/2 stem over 3 channels, pointwise 10 -> 13, flatten, FC 325 -> 7 (all padded)."""
    b = GraphBuilder(np.random.default_rng(5), (1, 9, 9, 3), 0.05, -10)
    x = b.conv2d("input", 10, kernel=3, stride=2, act="relu6")
    x = b.conv2d(x, 13, kernel=1, act="relu")
    x = b.reshape(x, (1, 5 * 5 * 13))
    return b.build(b.fully_connected(x, 7))


@pytest.mark.parametrize("lay", [layouts.VNNI, layouts.DOTPROD, layouts.NEON, layouts.AVX2],
                         ids=lambda l: l.name)
def test_packed_layout_bit_exact_on_host(lay):
    g = _packed_graph()
    ex = compile_qgraph(g, host_target(), layout=lay)
    for seed in (0, 1):
        x = sample_input(g, np.random.default_rng(seed))
        out, ref = run_local(ex, g, x), reference.run(g, x)
        np.testing.assert_array_equal(out[g.outputs[0]], ref[g.outputs[0]])


def test_layout_selection_follows_target_features():
    assert layouts.select({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a76",
                           "mattr": ["+neon", "+dotprod"]}) is layouts.DOTPROD
    assert layouts.select({"kind": "llvm", "mtriple": "aarch64-linux-gnu",
                           "mcpu": "cortex-a72", "mattr": ["+neon"]}) is layouts.NEON
    assert layouts.select({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                           "mcpu": "znver4"}) is layouts.VNNI
    assert layouts.select({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                           "mcpu": "haswell"}) is layouts.AVX2
    assert layouts.select({"kind": "llvm", "mtriple": "x86_64-linux-gnu",
                           "mcpu": "nehalem"}) is None
    w = np.arange(-60, 60, dtype=np.int8).reshape(5, 2, 2, 6)
    p = layouts.pack_conv(w, layouts.VNNI)
    assert p.shape == (1, 2, 2, 2, 16, 4)
    assert p[0, 1, 0, 1, 3, 1] == w[3, 1, 0, 5] and not p[0, :, :, 1, :, 2:].any()
