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
from edgemobilenet.backends.tvm.kernel_profile import kernel_table
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


# aarch64's hand-written kernels (`dw_neon` on rpi4, `dw_sdot` on rpi5: 5x5 kernels take
# two column vectors per kernel column, the second of one row): strides 1 and 2, 3x3 and
# 5x5, dilation, one-sided padding; maps of at most 7 rows or columns take the padded
# cases only
NEON_CASES = [(3, 1, [1, 1, 1, 1], 1), (5, 2, [2, 2, 2, 2], 1), (3, 2, [0, 0, 1, 1], 1),
              (5, 1, [2, 2, 2, 2], 1), (3, 1, [2, 2, 2, 2], 2), (3, 1, [1, 0, 0, 2], 1),
              (3, 2, [1, 1, 1, 1], 1)]
SMALL_CASES = [(5, 1, [2, 2, 2, 2], 1), (3, 1, [1, 1, 1, 1], 1), (3, 1, [2, 2, 2, 2], 2),
               (3, 2, [1, 1, 1, 1], 1), (5, 2, [2, 2, 2, 2], 1)]


def _extreme_graph(h: int, w: int, c: int, zp: int, seed: int):
    """A depthwise chain with weights -128 (-127 in odd layers) or 127 only and the input
    zero point `zp`; the second layer shifts left (shift +1), the third not at all (0), the
    last (no activation) right in odd channels only; its output is read by a padded 3x3
    convolution."""
    b = GraphBuilder(np.random.default_rng(seed), (1, h, w, c), 0.05, zp)
    x = "input"
    for k, s, pad, d in NEON_CASES if min(h, w) > 7 else SMALL_CASES:
        x = b.conv2d(x, c, kernel=k, stride=s, groups=c, padding=pad, dilation=d, act="relu6")
        x = b.conv2d(x, c, kernel=1)
    x = b.conv2d(x, c, kernel=3, groups=c, padding=[1, 1, 1, 1])
    x = b.conv2d(x, c, kernel=3, padding=[1, 1, 1, 1])   # its padding reads a dw_* output
    g = b.build(x)
    dws = [n for n in g.nodes if n.op == "conv2d" and n.params["weight"].shape[3] == 1]
    rng = np.random.default_rng(seed)
    for i, n in enumerate(dws):   # odd layers without -128: int16 pairs (`dw_neon.Form`)
        low = -127 if i % 2 else -128
        n.params["weight"] = rng.choice(np.array([low, 127], np.int8), n.params["weight"].shape)
    dws[1].params["shift"] = np.ones_like(dws[1].params["shift"])
    dws[2].params["shift"] = np.zeros_like(dws[2].params["shift"])
    last = dws[-1].params   # no clamp of its own: even channels' multiplier scaled down instead
    last["multiplier"][::2] >>= np.maximum(-last["shift"][::2], 0)
    last["shift"][::2] = 0
    return g


def test_aarch64_kernels_cover_channels_multiple_of_8_on_aarch64_only():
    """`dw_sdot` with dotprod (rpi5), `dw_neon` without (rpi4), neither on the host."""
    from edgemobilenet.backends.tvm.linux_target import linux_target

    kernels = ("depthwise_neon", "depthwise_sdot")
    for target, name in (("rpi4", kernels[0]), ("rpi5", kernels[1])):
        spec = linux_target(target).tvm_target
        mod = lower(_graph(9, 9, 24), spec)
        assert {k: _hand_kernels(mod, k) for k in kernels} == \
            {k: len(CASES) if k == name else 0 for k in kernels}
        assert _hand_kernels(lower(_graph(9, 9, 20), spec), name) == 0
        # the hand-written kernels declare their MACs: the same as the TE kernels' (host)
        g = _graph(9, 9, 24)
        hand = kernel_table(lower(g, spec, schedule=False))
        te = kernel_table(lower(g, host_target(), schedule=False))
        assert [k["macs"] for k in hand if "depthwise" in k["name"]] == \
            [k["macs"] for k in te if "depthwise" in k["name"]] != []
        assert all(k["macs"] > 0 for k in hand if "depthwise" in k["name"])
    assert [_hand_kernels(lower(_graph(9, 9, 24), host_target()), k) for k in kernels] == [0, 0]


# (h, w, c, input zero point): tiles + tail, 7x7, and all-border maps (2x2 and 3x2 under
# 5x5, 1x1 after the strides); 40 channels: 5 blocks of 8
NEON_MAPS = [(23, 29, 24, -128), (7, 7, 40, 127), (3, 2, 16, 0), (2, 2, 8, -7), (1, 1, 8, 5)]


@pytest.mark.slow  # one emulated run per core and map (import tvm under qemu), ~30 s each
@pytest.mark.parametrize("target", ["rpi4", "rpi5"])
@pytest.mark.parametrize("h, w, c, zp", NEON_MAPS)
def test_neon_depthwise_bit_exact_on_emulated_core(target, h, w, c, zp, tmp_path):
    g = _extreme_graph(h, w, c, zp, seed=h + c)
    x = np.random.default_rng(7).integers(-128, 128, (1, h, w, c), dtype=np.int8)
    x[0, ::2, ::3] = zp
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path)


# x86 AVX512-VNNI's hand-written kernel (`dw_vnni`): the same layer chain, channels a
# multiple of 16 (48: 3 blocks), 5x5 kernels take two column vectors per kernel column
VNNI_TARGET = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "sapphirerapids"}
VNNI_MAPS = [(23, 29, 32, -128), (7, 7, 48, 127), (3, 2, 16, 0), (2, 2, 16, -7),
             (1, 1, 16, 5)]


def _hand_kernels(mod, name: str) -> int:
    """Calls of the hand-written kernels `name` in `main`."""
    from edgemobilenet.backends.tvm.kernel_profile import main_calls

    funcs = {gv.name_hint: f for gv, f in mod.functions.items()
             if isinstance(f, tvm.tirx.PrimFunc)}
    return sum(1 for k, _ in main_calls(mod) if getattr(funcs[k].body, "block", None)
               is not None and funcs[k].body.block.name_hint == name)


def _host_has_vnni() -> bool:
    from edgemobilenet.backends.tvm import layouts
    return layouts.select(host_target()) is layouts.VNNI


def test_vnni_kernel_covers_channels_multiple_of_16_on_vnni_only():
    from edgemobilenet.backends.tvm.linux_target import linux_target

    assert _hand_kernels(lower(_graph(9, 9, 32), VNNI_TARGET), "depthwise_vnni") == len(CASES)
    assert _hand_kernels(lower(_graph(9, 9, 24), VNNI_TARGET), "depthwise_vnni") == 0
    assert _hand_kernels(lower(_graph(9, 9, 32), linux_target("rpi5").tvm_target),
                         "depthwise_vnni") == 0
    no_vnni = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "znver3"}
    assert _hand_kernels(lower(_graph(9, 9, 32), no_vnni), "depthwise_vnni") == 0
    # the hand-written kernels declare their MACs: the same as the TE kernels'
    g = _graph(9, 9, 32)
    vnni = kernel_table(lower(g, VNNI_TARGET, schedule=False))
    te = kernel_table(lower(g, no_vnni, schedule=False))
    assert [k["macs"] for k in vnni if "depthwise" in k["name"]] == \
        [k["macs"] for k in te if "depthwise" in k["name"]] != []


@pytest.mark.skipif(not _host_has_vnni(), reason="the host has no AVX512-VNNI")
@pytest.mark.parametrize("h, w, c, zp", VNNI_MAPS)
def test_vnni_depthwise_bit_exact_on_host(h, w, c, zp):
    g = _extreme_graph(h, w, c, zp, seed=h + c)
    mod = lower(g, host_target())
    assert _hand_kernels(mod, "depthwise_vnni") == len(NEON_CASES if min(h, w) > 7
                                                       else SMALL_CASES) + 1
    ex = compile_module(mod, host_target())
    for seed in (7, 8):
        x = np.random.default_rng(seed).integers(-128, 128, (1, h, w, c), dtype=np.int8)
        x[0, ::2, ::3] = zp
        if seed == 8:
            x[0, 1::2] = 127
        want = reference.run(g, x)[g.outputs[0]]
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]], want)


@pytest.mark.skipif(not _host_has_vnni(), reason="the host has no AVX512-VNNI")
def test_vnni_depthwise_output_form_follows_its_readers():
    """uint8 (the packed convolution's prepared input) only when every reader is an
    unpadded convolution with groups 1: not when an unpadded depthwise also reads it, nor
    for a graph output."""
    b = GraphBuilder(np.random.default_rng(4), (1, 10, 11, 32), 0.05, 9)
    a = b.conv2d("input", 32, kernel=3, groups=32, padding=[1, 1, 1, 1], act="relu6")
    p1 = b.conv2d(a, 32, kernel=1)                                    # reads a: int8 kept
    d2 = b.conv2d(a, 32, kernel=1, groups=32)                         # (both read a)
    s = b.add(p1, d2)
    d3 = b.conv2d(s, 32, kernel=3, groups=32, padding=[1, 1, 1, 1])
    p3 = b.conv2d(d3, 16, kernel=1)                                   # only reader: uint8
    d4 = b.conv2d(p3, 16, kernel=3, groups=16, stride=2, padding=[0, 0, 1, 1])
    p4 = b.conv2d(d4, 16, kernel=1)                                   # d4 is an output too
    g = b.build([p4, d4])
    mod = lower(g, host_target())
    assert _hand_kernels(mod, "depthwise_vnni") == 4
    assert len([k for k in _kernels(mod) if k.startswith("prep")]) == 2   # p1's and p4's
    ex = compile_module(mod, host_target())
    for seed in (0, 1):
        x = sample_input(g, np.random.default_rng(seed))
        want = reference.run(g, x)
        got = run_local(ex, g, x)
        for t in g.outputs:
            np.testing.assert_array_equal(got[t], want[t])
