"""Find the first layer where a backend's outputs leave the numpy reference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgemobilenet.quant import reference
from edgemobilenet.quant.qgraph import QGraph


@dataclass
class Mismatch:
    """The first layer whose output differs from the reference."""

    index: int
    name: str
    op: str
    differing: int          # number of differing values
    max_abs_diff: int

    def __str__(self) -> str:
        return (f"layer {self.index} '{self.name}' ({self.op}): {self.differing} values differ "
                f"from the reference, max |diff| {self.max_abs_diff}")


def first_mismatch(g: QGraph, x: np.ndarray,
                   layer_output: Callable[[int], np.ndarray]) -> Mismatch | None:
    """Compare `layer_output(i)` (any backend) with the reference, layer by layer; an
    empty output is a layer without a whole output (run in patches) and is skipped."""
    ref = reference.run(g, x, keep_all=True)
    for i, node in enumerate(g.nodes):
        want = ref[node.outputs[0]]
        got = np.asarray(layer_output(i))
        if got.size == 0 and want.size:
            continue
        got = got.reshape(want.shape)
        if not np.array_equal(got, want):
            d = np.abs(got.astype(np.int32) - want.astype(np.int32))
            return Mismatch(i, node.name, node.op, int((d != 0).sum()), int(d.max()))
    return None
