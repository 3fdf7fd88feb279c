"""Shared by the device tests: the dummy model firmware, built once per target and session,
and its numpy reference (firmware/tests/dummy_model.c)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgemobilenet.device.firmware import build_firmware
from edgemobilenet.targets import FIRMWARE_DIR, load_target

DUMMY = FIRMWARE_DIR / "tests" / "dummy_model.c"
DUMMY_HASH = "d0" * 32


def _sat(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -128, 127)


def dummy_layers(x: np.ndarray) -> list[np.ndarray]:
    """Flat int8 outputs of the dummy model's three layers."""
    a = _sat(x.astype(np.int32).ravel() + 1)
    b = _sat(2 * a)
    out = _sat(b.reshape(-1, 3).sum(axis=1))
    return [v.astype(np.int8) for v in (a, b, out)]


def dummy_inputs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (n, 1, 16, 16, 3), dtype=np.int8)


@pytest.fixture(scope="session")
def dummy_elf(tmp_path_factory):
    """dummy_elf(target_name, misbehave=False) -> Path of a built firmware (cached)."""
    cache: dict[tuple[str, bool], Path] = {}

    def get(name: str, misbehave: bool = False) -> Path:
        key = (name, misbehave)
        if key not in cache:
            d = tmp_path_factory.mktemp(f"fw-{name}{'-bad' if misbehave else ''}")
            cache[key] = build_firmware(load_target(name), [DUMMY], d, kernel_sources=[],
                                        model_cflags="-DEMB_DUMMY_MISBEHAVE" if misbehave else "")
        return cache[key]

    return get
