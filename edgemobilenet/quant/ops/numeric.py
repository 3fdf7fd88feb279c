"""numpy building blocks shared by the reference implementations (integer only)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgemobilenet.quant.fixedpoint import mbqm, saturate_int8

# |x - zp| <= 255 and |w| <= 128: int32 accumulation is exact up to this many terms
MAX_INT32_TERMS = ((1 << 31) - 1) // (255 * 128)


def requant(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, zp_y: int,
            act_min: int, act_max: int) -> np.ndarray:
    """Per-output-channel MBQM + zero point + activation clamp (last axis is channels)."""
    return saturate_int8(mbqm(acc, multiplier, shift) + zp_y, act_min, act_max)


def pad(x: np.ndarray, padding: tuple[int, ...], value: int) -> np.ndarray:
    """Pad a (H, W, C) array as [top, left, bottom, right]."""
    t, l, b, r = padding
    if not (t or l or b or r):
        return x
    return np.pad(x, ((t, b), (l, r), (0, 0)), constant_values=value)


def out_size(n: int, lo: int, hi: int, k: int, s: int, d: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def out_hw(hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int, int, int],
           dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """Output rows and columns of a window op over an (H, W) map (padding t, l, b, r)."""
    return (out_size(hw[0], padding[0], padding[2], kernel[0], stride[0], dilation[0]),
            out_size(hw[1], padding[1], padding[3], kernel[1], stride[1], dilation[1]))


def windows(xp: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
            dilation: tuple[int, int], oh: int, ow: int) -> np.ndarray:
    """(OH, OW, KH, KW, C) view of the padded (H, W, C) input."""
    sh, sw = stride
    dh, dw = dilation
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(0, 1))
    v = v[: (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw, :, ::dh, ::dw]
    return v.transpose(0, 1, 3, 4, 2)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer (P, K) @ (K, N); int32 when no sum can overflow it."""
    dt = np.int32 if a.shape[1] <= MAX_INT32_TERMS else np.int64
    return a.astype(dt, copy=False) @ b.astype(dt, copy=False)


def depthwise(xc: np.ndarray, w: np.ndarray, stride: tuple[int, int],
              dilation: tuple[int, int], oh: int, ow: int) -> np.ndarray:
    """Per-tap accumulation over shifted views: xc (Hp, Wp, C) int32, w (C, KH, KW, 1)."""
    sh, sw = stride
    dh, dw = dilation
    _, kh, kw, _ = w.shape
    acc = np.zeros((oh, ow, xc.shape[2]), dtype=np.int32)
    wt = w[:, :, :, 0].astype(np.int32)
    for i in range(kh):
        for j in range(kw):
            tap = xc[i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
            acc += tap * wt[:, i, j]
    return acc


def numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))
