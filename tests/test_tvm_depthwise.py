"""TVM depthwise convolutions read their zero-point padding themselves (no padding kernel):
bit-exact with the numpy reference on the host and on the emulated Pi, for every border
case (symmetric, one-sided and wide padding, strides 1 and 2, dilation, odd widths and
channel counts)."""
from __future__ import annotations

import numpy as np
import pytest
import tvm
from pi_board import assert_bit_exact_on_emulated_core
from qgraph_builders import GraphBuilder, sample_input

from edgemobilenet.backends.tvm.build import compile_module, host_target, lower, run_local
from edgemobilenet.quant import reference

# (kernel, stride, padding top/left/bottom/right, dilation)
CASES = [(3, 1, [1, 1, 1, 1], 1), (3, 2, [0, 0, 1, 1], 1), (3, 2, [1, 1, 1, 1], 1),
         (5, 1, [2, 2, 2, 2], 1), (3, 1, [2, 2, 2, 2], 2), (3, 1, [1, 0, 0, 2], 1)]


def _graph(h: int, w: int, c: int, cases=CASES):
    """A chain of depthwise layers (each case once), pointwise convolutions between them."""
    b = GraphBuilder(np.random.default_rng(3), (1, h, w, c), 0.05, -7)
    x = "input"
    for k, s, pad, d in cases:
        x = b.conv2d(x, c, kernel=k, stride=s, groups=c, padding=pad, dilation=d, act="relu6")
        x = b.conv2d(x, c, kernel=1)
    return b.build(x)


def _kernels(mod) -> list[str]:
    return [gv.name_hint for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)]


@pytest.mark.parametrize("h, w, c", [(23, 29, 24), (12, 9, 20)])
def test_depthwise_padding_in_kernel_bit_exact_on_host(h, w, c):
    g = _graph(h, w, c)
    mod = lower(g, host_target())
    assert not [k for k in _kernels(mod) if k.startswith("pad")]
    ex = compile_module(mod, host_target())
    for seed in (0, 1):
        x = sample_input(g, np.random.default_rng(seed))
        want = reference.run(g, x)[g.outputs[0]]
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]], want)


@pytest.mark.slow  # one emulated run (import tvm under qemu), ~40 s
def test_depthwise_padding_in_kernel_bit_exact_on_emulated_rpi4(tmp_path):
    g = _graph(23, 29, 24)
    x = sample_input(g, np.random.default_rng(5))
    assert_bit_exact_on_emulated_core(g, "rpi4", x, tmp_path)
