"""Exact 256-entry tables of TFLite's int8 elementwise kernels (LiteRT builtin kernels).

Each table replicates the kernel's own arithmetic for every int8 input:
- LOGISTIC, TANH: the optimized kernels look up a table that `LUTPopulate` fills in float32
  (`roundf(f(s_in * (q - zp_in)) / s_out) + zp_out`, with libm's `expf` / `tanhf`, called
  here through ctypes so the float results are the same bits). The reference kernels
  (OpResolverType.BUILTIN_REF) use a fixed-point polynomial instead and can differ.
- HARD_SWISH: the int16 fixed-point of `reference_ops::HardSwish` (the optimized kernel
  computes the same), with multipliers derived in float32 as `HardSwishPrepare` does.
- RELU, RELU6, RELU_N1_TO_1: `MultiplyByQuantizedMultiplier(q - zp_in, s_in / s_out)` + zp_out,
  clamped to the activation's range (`ReluPrepare` / `QuantizedReluX`).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from edgemobilenet.quant.fixedpoint import mbqm, quantize_multiplier, rounding_divide_by_pot
from edgemobilenet.quant.tflite_schema import tfl_round

Q = np.arange(-128, 128, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def _libm() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for fn in ("expf", "tanhf"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


def _float_lut(fn: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    f32 = np.float32
    lib = _libm()
    inv = f32(1.0) / f32(s_out)
    out = np.empty(256, np.int64)
    for i, q in enumerate(Q.tolist()):
        x = f32(s_in) * f32(q - zp_in)
        if fn == "sigmoid":
            y = f32(1.0) / (f32(1.0) + f32(lib.expf(float(-x))))
        else:
            y = f32(lib.tanhf(float(x)))
        out[i] = int(tfl_round(f32(y * inv))) + zp_out
    return np.clip(out, -128, 127).astype(np.int8)


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    ab = a.astype(np.int64) * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    r = np.trunc((ab + nudge) / (1 << 15)).astype(np.int64)
    return np.where((a == -32768) & (b == -32768), 32767, r)


def _sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -32768, 32767)


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier."""
    m, e = quantize_multiplier(real)
    m16 = 32767 if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16
    return m16, e


def _hardswish(s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(s_in)
    out_m, out_e = _int16_multiplier(float(f32(hires / f32(s_out))))
    relu_m, relu_e = _int16_multiplier(float(f32(hires / f32(3.0 / 32768.0))))
    if out_e > 0:
        raise ValueError(f"HARD_SWISH output multiplier exponent {out_e} > 0 (TFLite rejects it)")
    x = (Q - zp_in) * 128
    pre = _srdhm16(x, out_m)
    r = x
    if relu_e > 0:
        r = _sat16(r * (1 << (relu_e - 1)))
    r = _srdhm16(r, relu_m)
    if relu_e > 0:
        r = _sat16(r * 2)
    if relu_e < 0:
        r = rounding_divide_by_pot(r, -relu_e)
    r = (r + (1 << 15)) >> 1
    ab = r * pre
    pre_out = np.where((r == -32768) & (pre == -32768), 32767,
                       np.trunc(ab / (1 << 15)).astype(np.int64))
    y = rounding_divide_by_pot(pre_out, -out_e) + zp_out
    return np.clip(y, -128, 127).astype(np.int8)


def _relu(fn: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    f32 = np.float32
    m, sh = quantize_multiplier(float(f32(s_in) / f32(s_out)))  # a float32 division
    y = mbqm(Q - zp_in, m, sh) + zp_out

    def q(v: float) -> int:
        return zp_out + int(tfl_round(f32(v) / f32(s_out)))
    lo, hi = {"relu": (q(0.0), 127), "relu6": (q(0.0), q(6.0)),
              "relu_n1_to_1": (q(-1.0), q(1.0))}[fn]
    return np.clip(y, max(lo, -128), min(hi, 127)).astype(np.int8)


def elementwise_table(fn: str, s_in: float, zp_in: int, s_out: float, zp_out: int
                      ) -> np.ndarray:
    """int8 (256,) table: y = table[x + 128] for TFLite's op `fn` at these quantizations."""
    if fn in ("sigmoid", "tanh"):
        return _float_lut(fn, s_in, zp_in, s_out, zp_out)
    if fn == "hardswish":
        return _hardswish(s_in, zp_in, s_out, zp_out)
    if fn in ("relu", "relu6", "relu_n1_to_1"):
        return _relu(fn, s_in, zp_in, s_out, zp_out)
    raise ValueError(f"no TFLite table for {fn!r}")


def resize_table(mode: str, n_out: int, n_in: int, align_corners: bool, half_pixel: bool
                 ) -> np.ndarray:
    """(n_out, 4) int32 `[i0, i1, w0, w1]` of TFLite's int8 RESIZE_BILINEAR or
    RESIZE_NEAREST_NEIGHBOR along one axis (OPS.md `resize_table`)."""
    rows = []
    if mode == "bilinear":
        if align_corners and n_out > 1:
            s10 = ((1 << 10) * (n_in - 1) + (n_out - 1) // 2) // (n_out - 1)
        else:
            s10 = ((1 << 10) * n_in + n_out // 2) // n_out
        for o in range(n_out):
            s = o * s10 + s10 // 2 - (1 << 9) if half_pixel else o * s10
            lo = max(int(s / 1024), 0)                       # C division: toward zero
            hi = min(-((-(s + 1023)) // 1024) if s + 1023 < 0 else (s + 1023) // 1024,
                     n_in - 1)
            rows.append((lo, hi, 1024 - (s - 1024 * lo), s - 1024 * lo))
    elif mode == "nearest":
        f32 = np.float32
        scale = f32(n_in - 1) / f32(n_out - 1) if align_corners and n_out > 1 else \
            f32(n_in) / f32(n_out)
        off = f32(0.5) if half_pixel else f32(0.0)
        for o in range(n_out):
            t = (f32(o) + off) * scale
            i = int(tfl_round(t)) if align_corners else int(np.floor(t))
            i = min(i, n_in - 1)
            i = max(0, i) if half_pixel else i
            rows.append((i, i, 1024, 0))
    else:
        raise ValueError(f"resize mode {mode!r}")
    return np.array(rows, np.int32)
