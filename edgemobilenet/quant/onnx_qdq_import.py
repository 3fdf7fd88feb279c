"""Quantized ONNX (onnxruntime's `quantize_static`, QDQ or QOperator) -> QGraph, keeping the
file's own scales, zero points, integer weights and int32 biases (nothing re-calibrated).

uint8 activations become int8 exactly: q_int8 = q_uint8 - 128 with the zero point shifted by
-128 (same scale), so every integer op computes the same values. Weights must be symmetric:
int8 with zero point 0, or uint8 with zero point 128 (shifted the same way). Biases are taken
as stored when their scale is s_in * s_w (what quantize_static writes), else rescaled; a
float bias (other exporters) is quantized at s_in * s_w.
Requantization multipliers come from the file's float32 scales; onnxruntime requantizes in
float, the QGraph in fixed point, so a node may differ from onnxruntime by 1 LSB.
A global average pool whose output scale differs from its input's (onnxruntime calibrates it)
becomes a depthwise convolution with unit weights: one rounding, like onnxruntime's. A softmax
quantized to other than 1/256 (onnxruntime: 1/255) is followed by a requantizing table; an
Add/Sub/Mul/Div by a scalar constant (Keras' spelled-out h-swish) is a table, by a per-channel
constant (tf2onnx's Keras BatchNorm as Mul + Add) a depthwise 1x1 conv.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.capture_onnx import capture_onnx_model, is_quantized
from edgemobilenet.quant.capture_onnx_quant import QuantInfo
from edgemobilenet.quant.convert import _Converter, nhwc_shape
from edgemobilenet.quant.fixedpoint import quantize_multipliers
from edgemobilenet.quant.floatgraph import FloatGraph, FNode
from edgemobilenet.quant.observers import QMAX, QMIN
from edgemobilenet.quant.ops import softmax
from edgemobilenet.quant.onnx_file import load_onnx
from edgemobilenet.quant.qgraph import QGraph, QTensor, validate


class _FileConverter(_Converter):
    """The float-graph converter with every scale, weight and bias taken from the file."""

    def __init__(self, g: FloatGraph, info: QuantInfo):
        super().__init__(g, {}, False)
        self.info = info

    def _range(self, name: str) -> tuple[float, int]:
        qp = self.info.qparams.get(name)
        if qp is None:
            raise EdgembError(f"layer '{name}': the file has no quantization parameters for "
                              f"its output (a float op between quantized ones?)")
        return qp

    def _node(self, n: FNode) -> None:
        qp = self.info.qparams.get(n.name)
        x = self.tensors.get(n.inputs[0]) if n.inputs else None
        same = x is None or qp is None or (np.float32(qp[0]), qp[1]) == \
            (np.float32(x.scale), x.zero_point)
        if n.op == "avg_pool" and not same:
            self._mean(n, x, qp)
            return
        if n.op in ("flatten", "reshape", "resize_bilinear") and not same:
            raise EdgembError(f"layer '{n.name}' ({n.op}): the file requantizes this "
                              f"{n.op} from {x.scale:.6g}/{x.zero_point} to {qp[0]:.6g}/{qp[1]}")
        if n.op == "softmax" and qp is not None and \
                (np.float32(qp[0]), qp[1]) != (np.float32(softmax.OUT_SCALE), softmax.OUT_ZP):
            self._softmax_rescaled(n, x, qp)
            return
        super()._node(n)

    def _softmax_rescaled(self, n: FNode, x: QTensor, qp: tuple[float, int]) -> None:
        """Softmax at its fixed 1/256 scale, then a table to the file's output scale
        (onnxruntime writes 1/255): two roundings, within 1 LSB of rounding once."""
        tmp = f"{n.name}.softmax"
        p = QTensor(tmp, nhwc_shape(self.g.shapes[n.name]), "int8", softmax.OUT_SCALE,
                    softmax.OUT_ZP)
        self.tensors[tmp] = p
        self._softmax(FNode(tmp, "softmax", n.inputs), [x], p)
        out = self._tensor(n.name, self.g.shapes[n.name], *qp)
        q = np.arange(QMIN, QMAX + 1, dtype=np.float64)
        table = np.clip(np.rint((q - p.zero_point) * p.scale / out.scale) + out.zero_point,
                        QMIN, QMAX).astype(np.int8)
        self._emit(n, "lut", [tmp], {"fn": "requantize"}, {"table": table})

    def _weighted(self, n: FNode, x: QTensor, out: QTensor, w: torch.Tensor
                  ) -> dict[str, np.ndarray]:
        rec = self.info.weights.get(n.name)
        if rec is None:
            raise EdgembError(f"layer '{n.name}' ({n.op}): its weights are not quantized in "
                              f"the file")
        s_w = rec["w_scale"].astype(np.float32)
        shape = (-1,) + (1,) * (w.dim() - 1)
        q = np.rint(w.detach().double().numpy() / s_w.astype(np.float64).reshape(shape))
        bias_scale = x.scale * s_w.astype(np.float64)
        if "bias" not in rec:           # a float bias in the file
            bias = np.rint(n.params["bias"].detach().double().numpy() / bias_scale)
        elif np.allclose(rec["bias_scale"], bias_scale, rtol=1e-6, atol=0):
            bias = rec["bias"].astype(np.int64)
        else:
            bias = np.rint(rec["bias"] * rec["bias_scale"] / bias_scale)
        m, sh = quantize_multipliers(bias_scale / out.scale)
        return {"weight": np.clip(q, QMIN, QMAX).astype(np.int8),
                "bias": np.clip(bias, -(2 ** 31), 2 ** 31 - 1).astype(np.int32),
                "multiplier": m, "shift": sh, "w_scale": s_w}

    def _mean(self, n: FNode, x: QTensor, qp: tuple[float, int]) -> None:
        """Average pooling with a rescale: depthwise conv, unit weights, scale 1/count."""
        a = n.attrs
        _, h, w, c = x.shape
        kernel = [h, w] if a.get("global") else list(a["kernel"])
        if not a.get("global") and any(a.get("padding", [0, 0, 0, 0])):
            raise EdgembError(f"layer '{n.name}' (avg_pool): padded pooling with a rescale is "
                              f"not supported")
        out = self._tensor(n.name, self.g.shapes[n.name], *qp)
        count = kernel[0] * kernel[1]
        m, sh = quantize_multipliers(np.full(c, x.scale / (count * out.scale)))
        self._emit(n, "conv2d", [x.name], {
            "stride": [1, 1] if a.get("global") else list(a["stride"]),
            "padding": [0, 0, 0, 0], "dilation": [1, 1], "groups": c,
            "act_min": QMIN, "act_max": QMAX},
            {"weight": np.ones((c, *kernel, 1), np.int8), "bias": np.zeros(c, np.int32),
             "multiplier": m, "shift": sh, "w_scale": np.full(c, 1.0 / count, np.float32)})

    def _batch_norm(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        """x * a + b with constants (an Add/Sub/Mul/Div by a constant between quantized
        tensors): one value for all channels is a table; per-channel values on a feature map
        a depthwise 1x1 conv whose weight +-127 with scale |a|/127 represents each a exactly
        (the bias b at s_in * |a|/127). Both round once, like the file's runtime."""
        a, b = n.params["scale"].double().numpy(), n.params["shift"].double().numpy()
        x = ins[0]
        if np.ptp(a) <= 1e-12 * np.abs(a).max() and np.ptp(b) <= 1e-12 * max(np.abs(b).max(), 1):
            q = np.arange(QMIN, QMAX + 1, dtype=np.float64)
            real = (q - x.zero_point) * x.scale * a[0] + b[0]
            table = np.clip(np.rint(real / out.scale) + out.zero_point, QMIN, QMAX)
            self._emit(n, "lut", [x.name], {"fn": "affine"}, {"table": table.astype(np.int8)})
            return
        if len(x.shape) != 4:
            raise EdgembError(f"layer '{n.name}': arithmetic with a per-channel constant "
                              f"between quantized (N, C) tensors is not supported")
        c = len(a)
        w_scale = np.where(a != 0, np.abs(a) / 127.0, 1.0 / 127.0).astype(np.float32)
        bias_scale = x.scale * w_scale.astype(np.float64)
        m, sh = quantize_multipliers(bias_scale / out.scale)
        self._emit(n, "conv2d", [x.name], {
            "stride": [1, 1], "padding": [0, 0, 0, 0], "dilation": [1, 1], "groups": c,
            "act_min": QMIN, "act_max": QMAX},
            {"weight": (np.sign(a) * 127).astype(np.int8).reshape(c, 1, 1, 1),
             "bias": np.clip(np.rint(b / bias_scale), -(2 ** 31), 2 ** 31 - 1).astype(np.int32),
             "multiplier": m, "shift": sh, "w_scale": w_scale})


def _fuse_unquantized_activations(g: FloatGraph, info: QuantInfo) -> None:
    """Relu / Clip(0, 6) after an op whose output the file does not quantize (Conv -> Relu
    -> QuantizeLinear): a conv, linear or add takes it as its output clamp; after any other
    op it is dropped when the output's quantization makes it a no-op (zero point -128, and
    for ReLU6 a range that ends at or below 6)."""
    for act in [n for n in g.nodes if n.op in ("relu", "relu6")]:
        prod = next((n for n in g.nodes if n.name == act.inputs[0]), None)
        if prod is None or prod.name in info.qparams or len(g.consumers(prod.name)) != 1 or \
                prod.name == g.output:
            continue
        qp = info.qparams.get(act.name)
        noop = qp is not None and qp[1] == QMIN and \
            (act.op == "relu" or qp[1] + round(6.0 / qp[0]) >= QMAX)
        if prod.op in ("conv2d", "linear", "add") and prod.attrs.get("act", "none") == "none":
            prod.attrs["act"] = act.op
        elif not noop:
            continue
        g.nodes.remove(act)
        for n in g.nodes:
            n.inputs = [prod.name if t == act.name else t for t in n.inputs]
        if g.output == act.name:
            g.output = prod.name
        for table in (info.qparams, info.links):
            if act.name in table:
                table[prod.name] = table.pop(act.name)
    g.infer_shapes()


def import_onnx_int8(path: str | Path) -> tuple[QGraph, FloatGraph, QuantInfo]:
    """Read a quantized ONNX file: (QGraph, its dequantized float graph, the file's links)."""
    model = load_onnx(path)
    if not is_quantized(model):
        raise EdgembError(f"{path}: not a quantized ONNX model (no QuantizeLinear, "
                          f"DequantizeLinear or QLinear* operators)")
    g, info = capture_onnx_model(model, str(path))
    _fuse_unquantized_activations(g, info)
    try:
        q = _FileConverter(g, info).run()
    except EdgembError as e:
        raise EdgembError(f"{path}: {e}") from None
    except Exception as e:  # untrusted numbers (scales, zero points) in a damaged file
        raise EdgembError(f"{path}: malformed quantization ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    q.meta = {"source": str(path), "arch": "onnx", "method": "onnx file (not re-calibrated)",
              "calibration": "the file's own scales", "per_tensor_weights": bool(all(
                  np.unique(r["w_scale"]).size == 1 for r in info.weights.values())),
              "input_layout": "NHWC", "onnx_input_layout": info.input_layout}
    validate(q, str(path))
    return q, g, info


def is_int8_onnx(path: str | Path) -> bool:
    """A `.onnx` path whose model is quantized (cheap check on the parsed file)."""
    return str(path).lower().endswith(".onnx") and is_quantized(load_onnx(path))
