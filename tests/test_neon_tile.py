"""aarch64 register-tile convolutions (`intrin_neon`): bit-exact on the emulated Pi cores
at the int16 pair bound (weights +-127, activations -128), and no pairing when a weight
is -128 (its products would overflow int16)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm import intrin_neon
from edgemobilenet.backends.tvm.build import lower
from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.kernel_profile import kernel_table
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_count import count_inference
from edgemobilenet.quant import reference


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
    compile_linux(g, target, tmp_path / "b")
    x = np.full(g.tensors[g.inputs[0]].shape, -128, dtype=np.int8)
    x[0, ::2] = 127
    np.save(tmp_path / "x.npy", x)
    c = count_inference("tvm", tmp_path / "b" / "model.so", linux_target(target).qemu_cpu,
                        inferences=1, input_spec={"shape": list(x.shape), "dtype": "int8"},
                        input_npy=tmp_path / "x.npy")
    want = reference.run(g, x)[g.outputs[0]]
    np.testing.assert_array_equal(np.array(c.output["values"]).reshape(want.shape), want)


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
