"""Layout views: how an ONNX tensor relates to a float-graph tensor, so transposes fold away.

Converters other than torch.onnx move data between layouts with Transpose / Reshape /
Flatten / Squeeze / Unsqueeze (tflite2onnx and tf2onnx keep TFLite's and TensorFlow's NHWC
at the model input and around reshapes). The float graph is always NCHW, so such ops are not
turned into nodes: an ONNX tensor is a *view* of a float-graph tensor, `onnx.ravel() ==
fg.ravel()[idx]`, and a layout op only computes a new `idx`. Compute ops then ask for what
they need: the plain NCHW tensor (Conv, pooling, Resize), a column permutation they can fold
into their weights (Gemm, MatMul), the per-channel grouping of a ReduceMean, ...
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class View:
    """ONNX tensor of `shape` (batch 1) = float-graph tensor `src` re-indexed by `idx`.

    `idx` None is the identity (same row-major order). `pads` are a pending zero Pad per
    ONNX axis ((lo, hi) each), only ever folded into a following convolution.
    """

    src: str
    shape: tuple[int, ...]
    idx: np.ndarray | None = None
    pads: tuple[tuple[int, int], ...] | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def flat(self) -> np.ndarray:
        return np.arange(self.size, dtype=np.int64) if self.idx is None else self.idx


def norm(idx: np.ndarray) -> np.ndarray | None:
    return None if np.array_equal(idx, np.arange(idx.size)) else idx


def transpose(v: View, perm: list[int]) -> View:
    if sorted(perm) != list(range(len(v.shape))):
        raise ValueError(f"perm {perm} does not fit rank {len(v.shape)}")
    idx = v.flat().reshape(v.shape).transpose(perm).ravel()
    pads = tuple(v.pads[p] for p in perm) if v.pads else None
    return View(v.src, tuple(v.shape[p] for p in perm), norm(idx), pads)


def reshape(v: View, shape: tuple[int, ...]) -> View:
    if v.pads:
        raise ValueError("a padded tensor is reshaped (Pad is only supported before a Conv)")
    if math.prod(shape) != v.size:
        raise ValueError(f"reshape {v.shape} -> {shape} changes the element count")
    return View(v.src, tuple(shape), v.idx)


def target_shape(old: tuple[int, ...], spec: list[int], allowzero: bool = False
                 ) -> tuple[int, ...]:
    """ONNX Reshape semantics: 0 copies the input dimension, one -1 is inferred."""
    dims = [old[i] if d == 0 and not allowzero and i < len(old) else int(d)
            for i, d in enumerate(spec)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise ValueError(f"bad reshape target {spec}")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or math.prod(old) % known:
            raise ValueError(f"reshape {old} -> {spec} does not divide")
        dims[dims.index(-1)] = math.prod(old) // known
    return tuple(dims)


def perm_of(v: View, fg_shape: tuple[int, ...]) -> list[int] | None:
    """A permutation p with view == fg.transpose(p), preferring the identity; else None."""
    if len(v.shape) != len(fg_shape) or v.pads:
        return None
    base = np.arange(math.prod(fg_shape)).reshape(fg_shape)
    flat = v.flat()
    for p in itertools.permutations(range(len(fg_shape))):
        if tuple(fg_shape[i] for i in p) == v.shape and np.array_equal(
                base.transpose(p).ravel(), flat):
            return list(p)
    return None


def permuted(src: str, fg_shape: tuple[int, ...], perm: list[int]) -> View:
    """The view of `src` transposed by `perm`."""
    return transpose(View(src, tuple(fg_shape)), perm)


def broadcast_pairs(a: View, b: View) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Flat source indices of `a` and `b` for each element of their numpy broadcast."""
    out = np.broadcast_shapes(a.shape, b.shape)
    ia = np.broadcast_to(a.flat().reshape(a.shape), out).ravel()
    ib = np.broadcast_to(b.flat().reshape(b.shape), out).ravel()
    return ia, ib, tuple(out)


def channel_groups(v: View, axes: list[int], fg_shape: tuple[int, ...]) -> np.ndarray | None:
    """For a mean over ONNX `axes`: the NCHW channel of each result element when every group
    averaged is exactly one channel's H*W positions of the 4-D float tensor, else None."""
    if len(fg_shape) != 4 or v.pads:
        return None
    hw = fg_shape[2] * fg_shape[3]
    keep = [i for i in range(len(v.shape)) if i not in axes]
    grid = v.flat().reshape(v.shape).transpose(keep + list(axes))
    groups = grid.reshape(math.prod(v.shape[i] for i in keep), -1)
    if groups.shape[1] != hw:
        return None
    chans = groups // hw
    if not (chans == chans[:, :1]).all():
        return None
    return chans[:, 0]
