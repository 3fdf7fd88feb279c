"""Shared test check: a built firmware, booted in QEMU, equals the numpy reference bit for
bit on random inputs; on a mismatch the failure names the first differing layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qgraph_builders import sample_input

from edgemobilenet.backends.mcu import debug
from edgemobilenet.device.transport import open_device
from edgemobilenet.quant import reference
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target


def assert_firmware_matches_reference(g: QGraph, target: Target, build_dir: Path,
                                      n_inputs: int = 1, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    with open_device(target, elf=Path(build_dir) / "firmware.elf",
                     expected_hash=g.digest()) as dev:
        for _ in range(n_inputs):
            x = sample_input(g, rng)
            y, ticks = dev.run(x)
            want = reference.run(g, x)[g.outputs[0]]
            assert ticks > 0
            if not np.array_equal(y.reshape(want.shape), want):
                bad = debug.first_mismatch(g, x, dev.get_tensor)
                pytest.fail(f"{target.name}: output differs from the reference; first at {bad}")
