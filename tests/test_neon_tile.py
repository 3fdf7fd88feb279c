"""aarch64 register-tile convolutions (`intrin_neon`): bit-exact on the emulated Pi cores
at the int16 pair bound (weights +-127, activations -128), and no pairing when a weight
is -128 (its products would overflow int16)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import tvm
from pi_board import assert_bit_exact_on_emulated_core
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm import intrin_neon
from edgemobilenet.backends.tvm.build import lower
from edgemobilenet.backends.tvm.default_schedules import Knobs
from edgemobilenet.backends.tvm.kernel_profile import kernel_table
from edgemobilenet.backends.tvm.linux_target import linux_target


def _graph(extreme: bool):
    """Stem (its 3 columns: 3 k-blocks per call), pointwise 8 -> 24 -> 40 -> 32 -> 16
    (k-blocks 2, 6, 5 and 8 (transposed weights) per call); with `extreme` the pointwise
    weights are +-127 (largest int16 pair sums)."""
    b = GraphBuilder(np.random.default_rng(7), (1, 6, 10, 3), 0.05, -10)
    x = b.conv2d("input", 8, kernel=3, act="relu6")
    x = b.conv2d(x, 24, kernel=1)
    x = b.conv2d(x, 40, kernel=1, act="relu")
    x = b.conv2d(x, 32, kernel=1)
    x = b.conv2d(x, 16, kernel=1, act="relu")
    g = b.build(x)
    if extreme:
        for n in g.nodes:
            w = n.params.get("weight")
            if w is not None and w.shape[1:3] == (1, 1):
                n.params["weight"] = np.where(w >= 0, 127, -127).astype(np.int8)
    return g


def test_minus_128_weight_turns_pairing_off():
    t = linux_target("rpi4").tvm_target
    g = _graph(False)
    assert intrin_neon.narrow_weights(lower(g, t, schedule=False))
    n = next(n for n in g.nodes if n.params.get("weight") is not None)
    w = n.params["weight"].copy()
    w[0, 0, 0, 0] = -128
    n.params["weight"] = w
    assert not intrin_neon.narrow_weights(lower(g, t, schedule=False))


@pytest.mark.slow  # two emulated runs (import tvm under qemu), ~1 min
@pytest.mark.parametrize("target", ["rpi4", "rpi5"])
def test_register_tile_bit_exact_on_emulated_core(target, tmp_path):
    g = _graph(True)
    x = np.full(g.tensors[g.inputs[0]].shape, -128, dtype=np.int8)
    x[0, ::2] = 127
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path)


def _conv_inputs(target) -> list[list[int]]:
    mod = lower(_graph(False), target, schedule=False)
    return [k["args"][0][0] for k in kernel_table(mod) if k["op"].startswith("conv_packed")]


def test_stem_columns_become_k_blocks_on_neon_only():
    """The stem (one channel block, 3x3) reads its 3 kernel columns as 3 k-blocks of a
    gathered input on the NEON layout (register tile with KW k-blocks per call); the
    other layouts keep the plain prepared input; pointwise convs too."""
    assert _conv_inputs(linux_target("rpi4").tvm_target) == [
        [1, 8, 10, 12], [1, 6, 10, 8], [1, 6, 10, 24], [1, 6, 10, 40], [1, 6, 10, 32]]
    assert _conv_inputs(linux_target("rpi5").tvm_target)[0] == [1, 8, 12, 4]


def _transposes(pixels: int, kblocks: int, kind: str) -> int:
    """Shuffles in an intrinsic's implementation that gather one lane of several vectors
    (`_transposed`), not broadcast one lane."""
    text = intrin_neon._impl(pixels, kblocks, kind).script()
    return sum(len(set(m)) > 1 for m in re.findall(r"\], \[(\d+), (\d+), (\d+), (\d+)\]", text))


def test_weights_transposed_only_for_8_kblocks_of_neon():
    assert _transposes(5, 8, "neon") == 8
    assert _transposes(5, 4, "neon") == _transposes(5, 6, "neon") == 0
    assert _transposes(5, 8, "sdot") == 0


def _one_pixel_graph(extreme: bool):
    """Squeeze-excite-like 1x1 maps and dense layers, each one pixel per register-tile call:
    3x3 conv -> 24, global average pool, 1x1 convs 24 -> 40 -> 32 -> 32 (k-blocks 6, 5, 8
    (transposed weights) per call), dense 32 -> 20 -> 12 (k-blocks 8, 5); with `extreme`
    the 1x1 and dense weights are +-127."""
    b = GraphBuilder(np.random.default_rng(11), (1, 5, 7, 3), 0.05, -10)
    x = b.conv2d("input", 24, kernel=3, act="relu6")
    x = b.avg_pool(x)
    x = b.conv2d(x, 40, kernel=1, act="relu")
    x = b.conv2d(x, 32, kernel=1)
    x = b.conv2d(x, 32, kernel=1, act="relu")
    x = b.reshape(x, (1, 32))
    x = b.fully_connected(x, 20, act="relu")
    g = b.build(b.fully_connected(x, 12))
    if extreme:
        for n in g.nodes:
            w = n.params.get("weight")
            if w is not None and (w.ndim == 2 or w.shape[1:3] == (1, 1)):
                n.params["weight"] = np.where(w >= 0, 127, -127).astype(np.int8)
    return g


def _tensorized(target: str) -> list[str]:
    """The intrinsics the default schedules tensorize the packed kernels of
    `_one_pixel_graph` with, in kernel order (all of them scheduled)."""
    from tvm import s_tir

    from edgemobilenet.backends.tvm import default_schedules, layouts
    from edgemobilenet.backends.tvm.build import tvm_target

    t = linux_target(target).tvm_target
    mod = lower(_one_pixel_graph(False), t, schedule=False)
    lay = layouts.select(t)
    apply = default_schedules.scheduler(lay, True, intrin_neon.narrow_weights(mod))
    out = []
    for gv, f in sorted(mod.functions.items(), key=lambda kv: kv[0].name_hint):
        if "packed" in gv.name_hint and isinstance(f, tvm.tirx.PrimFunc):
            with tvm_target(t) as tgt:
                sch = apply(f, tgt, False)
            assert sch is not None, gv.name_hint
            out += [str(i.attrs[0]) for i in sch.trace.insts if i.kind.name == "Tensorize"]
    return out


def test_one_pixel_kernels_get_the_register_tile():
    """1x1 maps and dense layers use the register tile's one-pixel form (before: the
    generic unscheduled loops for 1x1 maps, TVM's one-block intrinsic for dense)."""
    assert sorted(_tensorized("rpi4")) == sorted([
        "edgemb_neon_1x4x6", "edgemb_neon_1x4x5", "edgemb_neon_1x4x8", "edgemb_neon_1x4x8",
        "edgemb_neon_1x4x5", "edgemb_neon_7x4x3"])
    assert sorted(_tensorized("rpi5")) == sorted([
        "edgemb_sdot_1x4x6", "edgemb_sdot_1x4x5", "edgemb_sdot_1x4x8", "edgemb_sdot_1x4x8",
        "edgemb_sdot_1x4x5", "dot_4x4_i8i8s32_sdot"])


@pytest.mark.slow  # two emulated runs (import tvm under qemu), ~1 min
@pytest.mark.parametrize("target", ["rpi4", "rpi5"])
def test_one_pixel_tile_bit_exact_on_emulated_core(target, tmp_path):
    g = _one_pixel_graph(True)
    x = np.full(g.tensors[g.inputs[0]].shape, 127, dtype=np.int8)
    x[0, ::2] = -128
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path)


def test_global_pool_sum_has_channels_as_vectors():
    """The global pool's sum of `_one_pixel_graph`: per vector of channels, the spatial
    reduction loops inside (vectorised channels); other reductions are left alone."""
    from edgemobilenet.backends.tvm import default_schedules, layouts
    from edgemobilenet.backends.tvm.build import tvm_target

    t = linux_target("rpi4").tvm_target
    mod = lower(_one_pixel_graph(False), t, schedule=False)
    sums = [f for gv, f in mod.functions.items() if gv.name_hint.endswith("sum")]
    assert len(sums) == 1
    apply = default_schedules.scheduler(layouts.NEON, True)
    with tvm_target(t) as tgt:
        text = apply(sums[0], tgt, False).mod.script()
    assert re.search(r"for k\w*, k\w* in T.grid\(T.int64\(5\), T.int64\(7\)\):\s+"
                     r"for \w+ in T.vectorized\(T.int64\(8\)\):", text), text
    softmax = GraphBuilder(np.random.default_rng(1), (1, 24), 0.05, 0)
    funcs = lower(softmax.build(softmax.softmax("input")), t, schedule=False).functions
    left = {gv.name_hint: f for gv, f in funcs.items() if gv.name_hint in ("max", "sum")}
    assert len(left) == 2   # a max, and a sum over the channels themselves
    with tvm_target(t) as tgt:
        assert all(apply(f, tgt, False) is None for f in left.values())


def _lut_graph():
    """Table lookups on 32 (16 bytes per `tbl`), 24 (8) and 20 channels and on a dense
    layer's 16 outputs (the last two the generic gather), every input byte value reaching
    the first."""
    b = GraphBuilder(np.random.default_rng(13), (1, 4, 8, 32), 0.05, 3)
    x = b.lut("input", "hardswish")
    x = b.lut(b.conv2d(x, 24, kernel=1), "sigmoid")
    x = b.lut(b.conv2d(x, 20, kernel=1), "hardsigmoid")
    x = b.fully_connected(b.reshape(b.avg_pool(x), (1, 20)), 16)
    return b.build(b.lut(x, "hardswish"))


def test_lut_neon_lookups_only_for_multiples_of_8_channels():
    mod = lower(_lut_graph(), linux_target("rpi4").tvm_target, schedule=False)
    luts = [f.script() for gv, f in mod.functions.items() if gv.name_hint.startswith("lut")]
    assert sorted(t.count("neon.tbx4") for t in luts) == [0, 0, 3, 3]
    assert sorted("int8x8" in t for t in luts) == [False, False, False, True]   # 8 per tbl
    host = lower(_lut_graph(), {"kind": "llvm"}, schedule=False)
    assert not any("tbx4" in f.script() for gv, f in host.functions.items()
                   if gv.name_hint.startswith("lut"))


@pytest.mark.slow  # one emulated run (import tvm under qemu), ~30 s
def test_lut_bit_exact_on_emulated_core(tmp_path):
    g = _lut_graph()
    x = (np.arange(1024) % 256 - 128).astype(np.int8).reshape(g.tensors[g.inputs[0]].shape)
    assert_bit_exact_on_emulated_core(g, "rpi4", x, tmp_path)


def _requant_graph():
    """Convs whose plain `requant` epilogues (each feeds a depthwise) take the sdot
    requantize tile: a 3x3 stem (3 channels, TVM's one-block sdot; tiles of 3 pixels x 4
    channels), then pointwise 8 -> 16 -> 24 -> 24 -> 10 -> 2 channels with 6 pixels per
    tile (10: the last tile has 2 channels; 2: the only tile does, with a constant extent:
    neither is a multiple of 4; odd numbers of int32x4 pad the last group of 4); +-127
    weights (saturating accumulators), per-channel shifts from +2 (left) to -31 with
    multipliers up to 2^31 - 1, and small multipliers with shifts -1 and -2 (unsaturated
    outputs, half of them rounding ties, negative ones too); output zero points +-100, the
    stem clamped to relu6, the others to [-128, 127]."""
    b = GraphBuilder(np.random.default_rng(17), (1, 5, 8, 3), 0.05, -10)
    x = b.conv2d(b.conv2d("input", 8, kernel=3, padding=[0, 0, 0, 0], act="relu6"), 8,
                 kernel=3, groups=8)
    for c in (16, 24, 24, 10, 2):
        x = b.conv2d(b.conv2d(x, c, kernel=1, act="relu6"), c, kernel=3, groups=c)
    g = b.build(x)
    for i, n in enumerate(n for n in g.nodes if n.params.get("weight") is not None
                          and n.attrs.get("groups") == 1):
        w = n.params["weight"]
        c, k = w.shape[0], w.shape[3]
        n.params["weight"] = np.where(w >= 0, 127, -127).astype(np.int8)
        small = 2 ** 31 * 100 // (127 * 128 * k)   # |acc * m| / 2^31 <= 100
        n.params["shift"] = np.resize([2, -1, 1, -2, 0, -1, -7, -2, -20, -1, -31],
                                      c).astype(np.int32)
        n.params["multiplier"] = np.resize([2 ** 31 - 1, small, 2 ** 30, small, 1518500250,
                                            small], c).astype(np.int32)
        g.tensors[n.outputs[0]].zero_point = (-100, 100, 3, -5, 7, 0)[i]
        if i:
            n.attrs["act_min"], n.attrs["act_max"] = -128, 127
    return g


# `_requant_graph`'s convs: the stem (no knobs), then 16 channels per tile, 12 (3 blocks of
# 24), 8, 4 (10 channels), 4 (2 channels)
_KNOBS = [Knobs(), Knobs(oc_blocks=4), Knobs(oc_blocks=4), Knobs(oc_blocks=2), Knobs(),
          Knobs()]


def _knob_db(g, target: str, knobs: list, path):
    """A tuning database (as `tools/tune_shipped.py --ship` writes one) scheduling the packed
    convs of `g`, in graph order, with `knobs`; returns it and their intrinsics."""
    import json

    from edgemobilenet.backends.tvm import knob_space
    from edgemobilenet.backends.tvm.ms_database import trace_json, workload_key
    from edgemobilenet.backends.tvm.tvm_compat import normalize_mod

    t = linux_target(target).tvm_target
    mod = lower(g, t, schedule=False)
    ks = knob_space.for_module(t, mod)
    convs = sorted((int(re.search(r"packed(\d*)", gv.name_hint)[1] or 0), f)
                   for gv, f in mod.functions.items() if "conv_packed" in gv.name_hint)
    kernels, intrins = [], []
    for (_, f), k in zip(convs, knobs, strict=True):
        fmod = normalize_mod(f)
        sch = ks(fmod["main"], k)
        intrins += [str(i.attrs[0]) for i in sch.trace.insts if i.kind.name == "Tensorize"]
        kernels.append({"workload": workload_key(fmod), "knobs": knob_space.knob_text(k),
                        "trace": trace_json(sch.trace)})
    path.write_text(json.dumps({"target": target, "kernels": kernels}))
    return path, intrins


@pytest.mark.parametrize("target, want", [
    ("rpi5", ["3x4", "6x12", "6x16", "6x8"]),
    ("rpi4", ["6x12", "6x16", "6x4", "6x8"]),   # the NEON stem: its column-gather tile
])
def test_requant_tile_only_for_plain_requant_multiples_of_4(target, want, tmp_path):
    """The sdot and NEON tiles' plain requant epilogues use the requantize tile over their
    pixels x channels (the stem 3 x 4 on sdot, 6 x 4 on NEON; 16, 12 and 8 of 24); not with
    2 channels in a tile (10 and 2 channels)."""
    _, intrins = _knob_db(_requant_graph(), target, _KNOBS, tmp_path / "a.json")
    assert sorted(n for n in intrins if "requant" in n) == [f"edgemb_requant_{w}x0" for w in want]


@pytest.mark.slow  # one emulated run (import tvm under qemu), ~40 s
@pytest.mark.parametrize("target", ["rpi5", "rpi4"])
def test_requant_tile_bit_exact_on_emulated_core(target, tmp_path):
    g = _requant_graph()
    db, _ = _knob_db(g, target, _KNOBS, tmp_path / "db.json")
    x = np.full(g.tensors[g.inputs[0]].shape, 127, dtype=np.int8)
    x[0, :, ::2] = -128
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path, db)


def _add_graph():
    """Convs with a residual add fused behind their requant epilogue (`intrin_requant`'s
    add variants): pointwise 8 -> 24 (plain), 24 -> 24 + its input (the tile the add's
    first input), 24 -> 32 (plain), the sum + 32 -> 24 (second), a depthwise, 24 -> 16
    (plain), 16 -> 16 + its input (first); 30 pixels (tiles of 6). The adds' parameters: a
    left shift on an input (multiplier shift +1: 21 bits in all), multipliers up to
    2^31 - 1 and a right shift of 20 (saturated sums), ties (multipliers 2^30, shifts -1),
    the calibrated ones; input zero points -128, 127 and +-100 (|x - zp| up to 255), relu
    and relu6 clamps."""
    b = GraphBuilder(np.random.default_rng(23), (1, 5, 6, 8), 0.05, -10)
    x0 = b.conv2d("input", 24, kernel=1, act="relu6")
    a1 = b.add(b.conv2d(x0, 24, kernel=1), x0, act="relu")
    a2 = b.add(a1, b.conv2d(b.conv2d(a1, 32, kernel=1), 24, kernel=1, act="relu"))
    x3 = b.conv2d(b.conv2d(a2, 24, kernel=3, groups=24), 16, kernel=1)
    g = b.build(b.add(b.conv2d(x3, 16, kernel=1), x3, act="relu6"))
    adds = [n for n in g.nodes if n.op == "add"]
    adds[0].params["multiplier"] = np.array([2 ** 31 - 1, 2 ** 30, 1518500250], np.int32)
    adds[0].params["shift"] = np.array([1, -1, -20], np.int32)
    adds[1].params["multiplier"] = np.array([2 ** 30] * 3, np.int32)
    adds[1].params["shift"] = np.array([-1, -1, -19], np.int32)
    for t, zp in zip((x0, a1, x3), (-128, 127, 100)):
        g.tensors[t].zero_point = zp
    g.tensors[g.nodes[1].outputs[0]].zero_point = -100
    return g


# `_add_graph`'s convs: 4 channels per tile, then 12 (of 24), 4, 8 (of 24), 4, 16
_ADD_KNOBS = [Knobs(), Knobs(oc_blocks=4), Knobs(), Knobs(oc_blocks=2), Knobs(),
              Knobs(oc_blocks=4)]


@pytest.mark.parametrize("target, want", [
    ("rpi5", ["4x0", "12x1", "4x0", "8x2", "4x0", "16x1"]),
    ("rpi4", ["4x0", "12x1", "8x2", "4x0", "16x1"]),   # 24 -> 32: its input copy behind it
])
def test_requant_tile_takes_the_residual_add(target, want, tmp_path):
    """A residual add behind the requant epilogue takes the requantize tile's add variant
    (the k-block field: 1 the tile is the add's first input, 2 its second); not behind an
    input preparation (the NEON layout keeps the copies fused behind convolutions)."""
    _, intrins = _knob_db(_add_graph(), target, _ADD_KNOBS, tmp_path / "a.json")
    assert [n for n in intrins if "requant" in n] == [f"edgemb_requant_6x{w}" for w in want]


@pytest.mark.slow  # two emulated runs (import tvm under qemu), ~40 s each
@pytest.mark.parametrize("target", ["rpi5", "rpi4"])
def test_requant_add_tile_bit_exact_on_emulated_core(target, tmp_path):
    """Default schedules (4 channels: 4-channel loads of the other input) and the knobs
    above (16 and 8 at a time, 12 as 8 + 4)."""
    g = _add_graph()
    db, _ = _knob_db(g, target, _ADD_KNOBS, tmp_path / "db.json")
    x = np.random.default_rng(1).integers(-128, 128, g.tensors[g.inputs[0]].shape,
                                          dtype=np.int8)
    x[0, :, ::3] = 127
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path / "tuned", db)
    assert_bit_exact_on_emulated_core(g, target, x, tmp_path / "default", "none")


def _stem_graph(width: int, pads: list, stride: int, zp: int):
    """A 3x3 stem over 3 channels (1, 5, width, 3) with input zero point `zp` (the padding
    value)."""
    b = GraphBuilder(np.random.default_rng(5), (1, 5, width, 3), 0.05, zp)
    return b.build(b.conv2d("input", 8, kernel=3, stride=stride, padding=pads, act="relu6"))


@pytest.mark.parametrize("target, width, want", [
    ("rpi5", 8, True), ("rpi5", 12, True),
    ("rpi5", 6, False),   # not a multiple of 4 pixels
    ("rpi4", 8, False),   # the NEON stem gathers its columns instead
])
def test_stem_input_preparation_hand_written_on_dotprod(target, width, want):
    """`prep_neon` prepares a 3-channel stem's input on aarch64 (not the NEON layout's
    column gather) when its width is a multiple of 4 pixels."""
    from edgemobilenet.backends.tvm.default_schedules import hand_written

    mod = lower(_stem_graph(width, [1, 1, 1, 1], 1, -10), linux_target(target).tvm_target,
                schedule=False)
    preps = [f for gv, f in mod.functions.items() if gv.name_hint.startswith("prep")]
    assert [hand_written(f) for f in preps] == [want]


@pytest.mark.slow  # two emulated runs (import tvm under qemu), ~40 s each
@pytest.mark.parametrize("width, pads, stride, zp", [
    (8, [1, 1, 1, 1], 1, -128),   # two 4-pixel chunks: the first, then the row's last
    (12, [0, 0, 1, 1], 2, 127),   # padding bottom and right only (stride 2, "SAME")
])
def test_stem_input_preparation_bit_exact_on_emulated_a76(width, pads, stride, zp, tmp_path):
    g = _stem_graph(width, pads, stride, zp)
    x = np.random.default_rng(2).integers(-128, 128, g.tensors[g.inputs[0]].shape,
                                          dtype=np.int8)
    assert_bit_exact_on_emulated_core(g, "rpi5", x, tmp_path)
