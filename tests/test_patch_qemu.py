"""Patch-based execution (`--memory`, backends/mcu/patch.py) on V1, V2, V3-Large/Small and
MnasNet: firmware whose first layers
run in spatial patches (halos recomputed or rows kept down the columns, image borders
padded, stride 2, depthwise, a residual add read through a window copy, hard-swish tables)
equals the numpy reference bit for bit in QEMU, and its arena is below the layer-by-layer
plan's."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from firmware_check import assert_firmware_matches_reference
from qgraph_builders import sample_input

from edgemobilenet.backends.mcu import build, inplace, patch
from edgemobilenet.bench import arena_timeline
from edgemobilenet.device.transport import open_device
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.quant import reference
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")


@lru_cache(maxsize=None)
def _graph(arch: str):
    return load_qgraph(arch, ModelOptions(width=0.35, resolution=32, num_classes=10,
                                          calib=None, calib_count=2))


# (target, arch, forced join layer, grid and cached rows; None: what `--memory min` chooses)
CASES = [("mps2-an386", "mobilenet_v1", None),
         ("mps3-an547", "mobilenet_v2", (9, (4, 2), True)),    # after the first residual
         # add, rows kept down the columns; lut, add, tiles copied, halos recomputed:
         ("mps2-an386", "mobilenet_v3_large", (4, (2, 3), False)),
         ("mps2-an500", "mobilenet_v3_small", None), ("mps3-an547", "mnasnet_a1", None)]


@pytest.mark.parametrize("target_name,arch,forced", CASES)
def test_patched_firmware_matches_reference(target_name, arch, forced, tmp_path,
                                            monkeypatch) -> None:
    g = _graph(arch)
    target = load_target(target_name)
    if forced:
        join, grid, cached = forced
        assert join in patch.stage_ends(g)
        pp = patch.make(g, join, grid, target.kernels, cached=cached)
        assert bool(pp.caches) == cached
        assert any(g.nodes[k].op == "add" for k in pp.stage) and pp.windows
        monkeypatch.setattr(patch, "choose",
                            lambda g, _m, a, *_r: (pp, inplace.choose(g, "min", a, pp)))
    doc = build.compile_model(g, target, tmp_path / "b", memory="min")
    rec = doc["patch"]
    assert rec is not None and rec["layers"] >= 3
    timeline = arena_timeline(doc)
    if not forced:   # forced plans are for coverage, not necessarily smaller
        assert doc["arena_bytes"] < doc["arena_layer_by_layer"]
        assert timeline["before"]["arena_bytes"] == doc["arena_layer_by_layer"]
    assert max(b["offset"] + b["bytes"] for b in timeline["buffers"]) == doc["arena_bytes"]
    assert_firmware_matches_reference(g, target, tmp_path / "b", n_inputs=1)
    # the join output itself (a random-init model's logits can hide a wrong patch)
    x = sample_input(g, np.random.default_rng(3))
    want = reference.run(g, x, keep_all=True)
    with open_device(target, elf=tmp_path / "b" / "firmware.elf") as dev:
        dev.run(x)
        for i in (rec["join_index"], rec["join_index"] + 1):
            t = g.nodes[i].outputs[0]
            assert np.array_equal(dev.get_tensor(i).reshape(want[t].shape), want[t]), i
        assert dev.get_tensor(0).size == 0    # a patch layer has no whole output
