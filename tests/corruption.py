"""Damaged-file checks shared by the loaders' tests (ONNX, int8 ONNX, .qgraph)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from edgemobilenet.errors import EdgembError


def byte_flips_caught(path: Path, load: Callable[[Path], object], step: int = 1) -> int:
    """Flip (xor 0xFF) every `step`-th byte of the file at `path` in turn and call `load` on
    it: each call returns (its own asserts decide what a harmless load is) or raises one
    EdgembError line naming the file. Returns how many raised."""
    data = path.read_bytes()
    caught = 0
    for i in range(0, len(data), step):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            load(path)
        except EdgembError as e:
            assert "\n" not in str(e) and str(path) in str(e), f"byte {i}: {e}"
            caught += 1
    return caught
