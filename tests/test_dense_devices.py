"""SSDLite and LR-ASPP at an odd input size (45), quantized, compiled for the Cortex-M4
(mps2-an386, QEMU): the raw head outputs equal the reference executor bit for bit, and the
device post-processing after the last layer (C, firmware/kernels/portable/emb_postprocess.c)
returns what the host module returns on the reference's raw output (`host_postprocess`, what
Cortex-A runs after the TVM module): the same detections (TFLite_Detection_PostProcess fast
NMS, tflite_nms.postprocess_int8) and numpy's argmax map (ties: the lowest class)."""
from __future__ import annotations

import numpy as np
import pytest
from qgraph_builders import sample_input

from edgemobilenet.backends.mcu import manifest
from edgemobilenet.detection.device import host_postprocess, parse_detections
from edgemobilenet.device.transport import open_device
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.quant import reference
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")


def _graph(arch: str):
    return load_qgraph(arch, ModelOptions(width=0.35, resolution=45, num_classes=4,
                                          calib=None, calib_count=4))


@pytest.mark.parametrize("arch", ["ssdlite_mobilenet_v3_small", "lraspp_mobilenet_v3_small"])
def test_dense_model_on_m4_bit_exact_with_device_postprocessing(arch, tmp_path):
    g = _graph(arch)
    target = load_target("mps2-an386")
    doc = compile_mcu(g, target, tmp_path / "b")
    assert doc["arena_bytes"] >= doc["postprocess"]["result_offset"]
    rng = np.random.default_rng(3)
    with open_device(target, elf=tmp_path / "b" / "firmware.elf",
                     expected_hash=g.digest()) as dev:
        for _ in range(1):
            x = sample_input(g, rng)
            y, _ = dev.run(x)
            want = reference.run(g, x)[g.outputs[0]]
            np.testing.assert_array_equal(y.reshape(want.shape), want)
            post = dev.get_postprocessed()
            if doc["postprocess"]["kind"] == "argmax":
                got = np.frombuffer(post, np.int8).reshape(want.shape[:-1])
                np.testing.assert_array_equal(got, host_postprocess(g, want))
                assert len(np.unique(got)) > 1
                continue
            host = host_postprocess(g, want)    # what Cortex-A runs after the TVM module
            dev_det = parse_detections(post)
            assert len(host.scores) > 0
            for d, h in ((dev_det.boxes, host.boxes), (dev_det.classes, host.classes),
                         (dev_det.scores, host.scores)):
                np.testing.assert_array_equal(d, h)
    assert manifest.read(tmp_path / "b" / "manifest.json")["postprocess"]["kind"] in (
        "detect", "argmax")
