"""x86 AVX2 register-tile convolutions (`intrin_avx2`, targets without VNNI such as znver3):
bit-exact at the extremes (weights -128 and 127, activations -128 and 127: `vpmaddwd` pair
sums reach 2 * 128 * 128, which a saturating int16 form would clip), with the tile
actually used. Built for `haswell` (AVX2, no AVX-512), run on this x86 host."""
from __future__ import annotations

import subprocess

import numpy as np
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm import layouts
from edgemobilenet.backends.tvm.build import compile_qgraph, export, run_local
from edgemobilenet.quant import reference

HASWELL = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "haswell", "num-cores": 2}


def _graph():
    """Stem, pointwise 8 -> 24 -> 40 -> 20 (1, 2, 6 and 10 k-blocks; 16-channel blocks padded),
    3x3 conv (no depthwise), with every weight of the packed convs at -128 or 127."""
    b = GraphBuilder(np.random.default_rng(3), (1, 7, 9, 3), 0.05, -10)
    x = b.conv2d("input", 8, kernel=3, act="relu6")
    x = b.conv2d(x, 24, kernel=1)
    x = b.conv2d(x, 40, kernel=1, act="relu")
    x = b.conv2d(x, 20, kernel=3)
    g = b.build(x)
    for n in g.nodes[1:]:
        w = n.params["weight"]
        n.params["weight"] = np.where(w >= 0, 127, -128).astype(np.int8)
    return g


def _assert_bit_exact_at_extremes(g, seed: int):
    """`g` built for HASWELL equals the reference on inputs all -128, all 127 and random;
    returns the executable."""
    ex = compile_qgraph(g, HASWELL)
    shape = g.tensors[g.inputs[0]].shape
    for x in (np.full(shape, -128, np.int8), np.full(shape, 127, np.int8),
              np.random.default_rng(seed).integers(-128, 128, shape, dtype=np.int8)):
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]],
                                      reference.run(g, x)[g.outputs[0]])
    return ex


def test_avx2_tile_bit_exact_at_extremes(tmp_path):
    assert "avx2" in open("/proc/cpuinfo").read(), "this test runs AVX2 code on the host"
    assert layouts.select(HASWELL) is layouts.AVX2
    g = _graph()
    ex = _assert_bit_exact_at_extremes(g, seed=0)
    asm = subprocess.run(["objdump", "-d", str(export(ex, tmp_path / "m.so"))],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "vpmaddwd" in asm and "zmm" not in asm


def _one_pixel_graph():
    """1x1 maps and dense layers (the tile's one-pixel form): 3x3 conv, global average
    pool, 1x1 convs 16 -> 40 -> 24 on the 1x1 map, dense 24 -> 20 -> 12, every weight of the
    packed layers at -128 or 127."""
    b = GraphBuilder(np.random.default_rng(5), (1, 5, 7, 3), 0.05, -10)
    x = b.avg_pool(b.conv2d("input", 16, kernel=3, act="relu6"))
    x = b.conv2d(b.conv2d(x, 40, kernel=1, act="relu"), 24, kernel=1)
    x = b.fully_connected(b.reshape(x, (1, 24)), 20, act="relu")
    g = b.build(b.fully_connected(x, 12))
    for n in g.nodes:
        w = n.params.get("weight")
        if w is not None and (w.ndim == 2 or w.shape[1:3] == (1, 1)):
            n.params["weight"] = np.where(w >= 0, 127, -128).astype(np.int8)
    return g


def test_avx2_one_pixel_tile_bit_exact_at_extremes():
    _assert_bit_exact_at_extremes(_one_pixel_graph(), seed=1)
