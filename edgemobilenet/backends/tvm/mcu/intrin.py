"""Tensor intrinsics for Cortex-M (placeholder until registered)."""
from __future__ import annotations

from tvm.target import Target

from edgemobilenet.backends.tvm.mcu.tir_ops import TirLayer


def for_layer(target: Target, layer: TirLayer) -> list[str]:
    return []
