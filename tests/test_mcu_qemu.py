"""Compiled firmware in QEMU (mps2-an386 M4, mps2-an500 M7, mps3-an547 M55) equals the numpy
reference bit for bit; on a mismatch the failure names the first differing layer."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from firmware_check import assert_firmware_matches_reference

from edgemobilenet.backends.mcu import build, layout
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")

ALL_ARCHS = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
             "mnasnet_a1", "mnasnet_b1"]
# every architecture on the M4; on M7 and M55 one plain and one with h-swish/SE
MATRIX = ([("mps2-an386", a) for a in ALL_ARCHS]
          + [(t, a) for t in ("mps2-an500", "mps3-an547")
             for a in ("mobilenet_v2", "mobilenet_v3_small")])


def run_on_qemu(g, target_name: str, out_dir, n_inputs: int = 2) -> None:
    """Compile, boot in QEMU, compare outputs; layer-by-layer diagnosis on mismatch."""
    target = load_target(target_name)
    build.compile_model(g, target, out_dir)
    assert_firmware_matches_reference(g, target, out_dir, n_inputs)


@lru_cache(maxsize=None)
def _zoo_graph(arch: str):
    return load_qgraph(arch, ModelOptions(width=0.35, resolution=32, num_classes=10,
                                          calib=None, calib_count=4))


@pytest.mark.parametrize("target_name,arch", MATRIX)
def test_zoo_model_on_qemu_matches_reference(target_name: str, arch: str, tmp_path) -> None:
    run_on_qemu(_zoo_graph(arch), target_name, tmp_path / "build")


@pytest.mark.parametrize("arch", ["ssdlite_mobilenet_v2", "lraspp_mobilenet_v3_small"])
def test_detection_segmentation_on_qemu_match_reference(arch: str, tmp_path) -> None:
    """The heads' ops (NHWC flatten + concat of 12 prediction maps; resize, sigmoid gate,
    multiply, dilated depthwise) at an odd input size."""
    g = load_qgraph(arch, ModelOptions(width=0.35, resolution=35, num_classes=4, calib=None,
                                       calib_count=4))
    run_on_qemu(g, "mps2-an386", tmp_path / "build", n_inputs=1)


@pytest.mark.slow
def test_default_model_on_qemu_matches_reference(tmp_path) -> None:
    g = load_qgraph("default", ModelOptions(calib_count=8))
    run_on_qemu(g, "mps2-an386", tmp_path / "build", n_inputs=1)


def test_weights_beyond_flash_go_to_bulk_memory(tmp_path) -> None:
    """mps3-an547: 1000-class weights exceed the 512 KB ITCM and are placed in DDR."""
    from qgraph_builders import mobilenet_v2

    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=1000)
    run_on_qemu(g, "mps3-an547", tmp_path / "build", n_inputs=1)
    doc = build.manifest.read(tmp_path / "build" / "manifest.json")
    assert doc["placement"] == {"constants": ".emb_bulk", "arena": "sram",
                                "weight_layout": "fast", "compact_layers": []}
    assert doc["bulk_bytes"] >= layout.const_bytes(g, "mve") > load_target("mps3-an547").flash_bytes
