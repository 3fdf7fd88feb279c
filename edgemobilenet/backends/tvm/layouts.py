"""Dot-product friendly layouts per target: which one, and the offline weight packing.

TVM's int8 dot-product intrinsics compute C[b] += A[4] . B[b, 4] (b = 16 output channels
for x86 VNNI `vpdpbusd`, b = 4 for aarch64 `sdot` / NEON `smull`+`saddlp`). MetaSchedule
maps a convolution onto them only when activations are NHWC (channels innermost) and the
weights are packed as `(OC/b, KH, KW, C/4, b, 4)` (dense: `(OC/b, C/4, b, 4)`), with input
and output channels zero-padded to the blocks. VNNI multiplies uint8 by int8, so its
activations are shifted by +128 and `-128 * sum(w)` is folded into the bias (bit-exact).
The layout is chosen from the TVM target's CPU features; anything else stays generic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

K_BLOCK = 4   # reduction lanes of every dot-product intrinsic


@dataclass(frozen=True)
class Layout:
    name: str        # vnni | dotprod | neon
    oc_block: int    # output channels per intrinsic call
    unsigned: bool   # activations as uint8 (x + 128)
    intrin: str | None   # tensor intrinsic C[b] += A[4] . B[b, 4] (None: vectorised loops)
    # a stem (one input channel block, kernel wider than 1) gathers its kernel columns into
    # channel blocks, so the register tile gets KW k-blocks per call instead of one
    stem_columns: bool = False

    @property
    def act_offset(self) -> int:
        """Added to int8 activations before the dot product."""
        return 128 if self.unsigned else 0

    @property
    def act_dtype(self) -> str:
        return "uint8" if self.unsigned else "int8"


VNNI = Layout("vnni", 16, True, "dot_16x4_vnni")
DOTPROD = Layout("dotprod", 4, False, "dot_4x4_i8i8s32_sdot")
# the stem's column gather: sdot's one-pixel stem costs less than the gather (A76: +1 M
# instructions with it), so only the NEON layout gathers
NEON = Layout("neon", 4, False, "dot_4x4_i8i8s32_neon", stem_columns=True)
# x86 without VNNI (e.g. znver3): `vpmaddubsw` saturates, so int8 operands are widened to
# int16 for `vpmaddwd` in a register tile (`intrin_avx2`, applied by the default schedules);
# no single-block intrinsic for MetaSchedule
AVX2 = Layout("avx2", 16, False, None)


def select(target: dict[str, Any]) -> Layout | None:
    """The layout for a TVM target dict (None: generic NHWC/OHWI kernels)."""
    import tvm
    from tvm.target.codegen import target_has_features

    if target.get("kind") != "llvm":
        return None
    tgt = tvm.target.Target(dict(target))
    triple = str(target.get("mtriple", "")) or tvm.target.codegen.llvm_get_system_triple()
    if triple.startswith("x86_64"):
        if target_has_features("avx512vnni", tgt):
            return VNNI
        return AVX2 if target_has_features("avx2", tgt) else None
    if triple.startswith("aarch64"):
        if target_has_features("dotprod", tgt):
            return DOTPROD
        return NEON if target_has_features("neon", tgt) else None
    return None


def _round_up(n: int, b: int) -> int:
    return -(-n // b) * b


def padded(oc: int, c: int, lay: Layout) -> tuple[int, int]:
    """Output and input channel counts after padding to the blocks."""
    return _round_up(oc, lay.oc_block), _round_up(c, K_BLOCK)


def pack_conv(w: np.ndarray, lay: Layout) -> np.ndarray:
    """int8 OHWI `(OC, KH, KW, C)` -> `(OCp/b, KH, KW, Cp/4, b, 4)`, zero-padded."""
    oc, kh, kw, c = w.shape
    ocp, cp = padded(oc, c, lay)
    wp = np.zeros((ocp, kh, kw, cp), dtype=np.int8)
    wp[:oc, :, :, :c] = w
    b = lay.oc_block
    return np.ascontiguousarray(
        wp.reshape(ocp // b, b, kh, kw, cp // K_BLOCK, K_BLOCK).transpose(0, 2, 3, 4, 1, 5))


def pack_dense(w: np.ndarray, lay: Layout) -> np.ndarray:
    """int8 `(OC, C)` -> `(OCp/b, Cp/4, b, 4)`, zero-padded."""
    p = pack_conv(w[:, None, None, :], lay)
    return np.ascontiguousarray(p[:, 0, 0])
