"""What export and import share about TFLite: the schema's generated code, and TFLite's own
arithmetic for deriving integer parameters from the float32 scales a `.tflite` stores.

The flatbuffer code is the schema's generated Python (object API) that LiteRT ships as
`ai_edge_litert.schema_py_generated`. A `.tflite` keeps scales as float32; the kernels
derive multipliers and clamps from them at load time in double precision, with the
functions replicated here (TFLite `QuantizeMultiplier`, `CalculateActivationRangeQuantized`).
"""
from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgemobilenet.quant.fixedpoint import quantize_multiplier

Op = schema.BuiltinOperator
Act = schema.ActivationFunctionType
TType = schema.TensorType

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
METADATA_NAME = "edgemb.qgraph"  # JSON: QGraph names and meta (not semantics)

OP_NAMES = {v: k for k, v in vars(Op).items() if not k.startswith("_")}
ACT_NAMES = {v: k for k, v in vars(Act).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(TType).items() if not k.startswith("_")}


def f32(x: float) -> float:
    """`x` rounded to float32 (the precision a `.tflite` stores scales in), as a float."""
    return float(np.float32(x))


def tfl_round(x: np.ndarray | float) -> np.ndarray:
    """`TfLiteRound` / `std::round`: half away from zero."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def conv_multiplier(s_in: float, s_w: float, s_out: float) -> tuple[int, int]:
    """TFLite's per-channel requantization: QuantizeMultiplier(double(s_in) * s_w / s_out)."""
    return quantize_multiplier(f32(s_in) * f32(s_w) / f32(s_out))


def activation_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    """The int8 clamp TFLite derives from a fused activation (f / scale in float32)."""
    def q(f: float) -> int:
        return int(zp + tfl_round(np.float32(f) / np.float32(scale)))
    if act == Act.RELU:
        return max(-128, q(0.0)), 127
    if act == Act.RELU6:
        return max(-128, q(0.0)), min(127, q(6.0))
    if act == Act.RELU_N1_TO_1:
        return max(-128, q(-1.0)), min(127, q(1.0))
    if act == Act.NONE:
        return -128, 127
    raise ValueError(f"fused activation {ACT_NAMES.get(act, act)} is not supported for int8")


def mean_multiplier(s_in: float, s_out: float, n: int) -> tuple[int, int]:
    """MEAN's requantization over n values (LiteRT's reference and generic kernels): the
    multiplier of s_in / s_out with 1/n folded in as `(m << k) // n`, shift - k."""
    m0, sh0 = quantize_multiplier(f32(s_in) / f32(s_out))
    k = min(n.bit_length() - 1, 32, 31 + sh0)
    return (m0 << k) // n, sh0 - k
