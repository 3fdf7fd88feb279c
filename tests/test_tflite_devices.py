"""Imported int8 .tflite MobileNetV1 / V2 compiled for a Cortex-M4 (QEMU mps2-an386) and a
Raspberry Pi 4 (emulated: TVM RPC under qemu-aarch64): the device outputs equal LiteRT's
(reference kernels) running the same file, bit for bit."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from pi_board import direct_board
from tflite_helpers import sample, zoo_graph

from edgemobilenet.backends.mcu import build
from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.device.rpc import connect, load_build
from edgemobilenet.device.transport import open_device
from edgemobilenet.quant import litert_run
from edgemobilenet.quant.tflite_export import to_tflite
from edgemobilenet.quant.tflite_import import load
from edgemobilenet.targets import load_target

ARCHS = ["mobilenet_v1", "mobilenet_v2"]


@lru_cache(maxsize=None)
def _model(arch: str) -> bytes:
    return to_tflite(zoo_graph(arch)).data


def _imported(arch: str, tmp_path: Path):
    path = tmp_path / f"{arch}.tflite"
    path.write_bytes(_model(arch))
    g = load(path)
    it = litert_run.interpreter(_model(arch), "ref")
    xs = [sample(g, seed) for seed in (1, 2)]
    return g, [(x, litert_run.run(it, x)) for x in xs]


@pytest.mark.parametrize("arch", ARCHS)
def test_imported_tflite_on_cortex_m4_equals_litert(arch, tmp_path):
    g, cases = _imported(arch, tmp_path)
    target = load_target("mps2-an386")
    build.compile_model(g, target, tmp_path / "build")
    with open_device(target, elf=tmp_path / "build" / "firmware.elf",
                     expected_hash=g.digest()) as dev:
        for x, want in cases:
            y, _ = dev.run(x)
            np.testing.assert_array_equal(y.reshape(want.shape), want)


@pytest.mark.slow  # an emulated Pi start (shared across the session) and a TVM build
def test_imported_tflite_on_emulated_rpi4_equals_litert(tmp_path):
    """MobileNetV2 (V1 is the same conv/depthwise/FC lowering, checked on the M4 above)."""
    g, cases = _imported("mobilenet_v2", tmp_path)
    compile_linux(g, "rpi4", tmp_path / "build")
    board = direct_board()
    model = load_build(connect(rpc=f"{board.host}:{board.port}"), tmp_path / "build")
    for x, want in cases:
        np.testing.assert_array_equal(model.run(x)[g.outputs[0]], want)
