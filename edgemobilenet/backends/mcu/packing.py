"""Offline weight layouts for the Cortex-M kernel variants (firmware/kernels/{portable,dsp,mve}).

The code generator calls `pack_weights` on every conv2d / fully_connected weight and emits
the result as the layer's `const int8_t` array. Layouts:

- portable: OHWI as in the QGraph (identity).
- dsp, mve: identical, except depthwise conv2d (groups == C == OC > 1), whose weight
  (C, KH, KW, 1) becomes (KH, KW, C) so that one word / vector load gives the taps of
  4 / 16 neighbouring channels. Pointwise and FC need no reordering: the SMLAD kernels apply
  the same SXTB16 byte split to activations and weights, so the pairs line up.
"""
from __future__ import annotations

import numpy as np

from edgemobilenet.errors import EdgembError

VARIANTS = ("portable", "dsp", "mve")


def is_depthwise(node_op: str, attrs: dict, weight: np.ndarray) -> bool:
    """Depthwise with channel multiplier 1: the case the optimised variants repack."""
    groups = int(attrs.get("groups", 1))
    return (node_op == "conv2d" and weight.ndim == 4 and groups > 1
            and weight.shape[0] == groups and weight.shape[3] == 1)


def pack_weights(node_op: str, attrs: dict, weight: np.ndarray, variant: str) -> np.ndarray:
    """QGraph weight (OHWI int8, or (OC, C) for FC) -> the layout `variant` expects."""
    if variant not in VARIANTS:
        raise EdgembError(f"{node_op}: unknown kernel variant '{variant}' "
                          f"(expected one of {', '.join(VARIANTS)})")
    w = np.ascontiguousarray(weight, dtype=np.int8)
    if variant != "portable" and is_depthwise(node_op, attrs, w):
        return np.ascontiguousarray(w[..., 0].transpose(1, 2, 0))
    return w
