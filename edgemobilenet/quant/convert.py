"""Float graph + calibrated ranges -> integer-only QGraph (OPS.md), and the one-call APIs.

Activations become asymmetric int8 per tensor, weights symmetric int8 per output channel
(or per tensor on request), biases int32 at scale s_in * s_w[oc]; ReLU/ReLU6 become the
output clamp; non-linearities become 256-entry tables. Layouts change from the float
graph's NCHW / OIHW to the QGraph's NHWC / OHWI.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.calibrate import Ranges, batched, calibrate
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.fixedpoint import quantize_multipliers
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph, FNode
from edgemobilenet.quant.observers import QMAX, QMIN, qparams
from edgemobilenet.quant.ops import softmax
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor, validate

ADD_LEFT_SHIFT = 20
_LUT_FNS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu, "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "hardswish": nn.functional.hardswish, "hardsigmoid": nn.functional.hardsigmoid,
    "sigmoid": torch.sigmoid, "tanh": torch.tanh,
}
_SAME_SCALE = ("avg_pool", "flatten", "reshape", "resize_bilinear")


def nhwc_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Float (N, C, H, W) / (N, C) shape at batch 1 -> QGraph NHWC shape."""
    if len(shape) == 4:
        return (1, shape[2], shape[3], shape[1])
    if len(shape) == 2:
        return (1, shape[1])
    raise ValueError(f"tensors of rank {len(shape)} are not supported")


def weight_scales(w: torch.Tensor, per_tensor: bool = False) -> np.ndarray:
    """Symmetric int8 scale per output channel (axis 0), or one shared scale."""
    flat = w.detach().reshape(w.shape[0], -1).abs().double()
    amax = flat.max() * torch.ones(w.shape[0], dtype=torch.float64) if per_tensor \
        else flat.max(dim=1).values
    s = (amax / 127.0).numpy()
    return np.where(s > 0, s, 1.0).astype(np.float32)


def quantize_weight(w: torch.Tensor, scales: np.ndarray) -> np.ndarray:
    s = torch.from_numpy(scales.astype(np.float64)).reshape((-1,) + (1,) * (w.dim() - 1))
    return torch.clamp(torch.round(w.double() / s), -127, 127).to(torch.int8).numpy()


def lut_table(fn: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    q = torch.arange(QMIN, QMAX + 1, dtype=torch.float64)
    y = _LUT_FNS[fn]((q - zp_in) * s_in)
    return torch.clamp(torch.round(y / s_out) + zp_out, QMIN, QMAX).to(torch.int8).numpy()


class _Converter:
    def __init__(self, g: FloatGraph, ranges: Ranges, per_tensor_weights: bool):
        self.g = g
        self.ranges = ranges
        self.per_tensor = per_tensor_weights
        self.tensors: dict[str, QTensor] = {}
        self.nodes: list[QNode] = []
        self.flat_from: dict[str, tuple[int, int, int]] = {}  # NCHW-flattened tensors (C,H,W)

    def _range(self, name: str) -> tuple[float, int]:
        if name not in self.ranges:
            raise EdgembError(f"layer '{name}': no calibrated range")
        lo, hi = self.ranges[name]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise EdgembError(f"layer '{name}': calibrated range [{lo}, {hi}] is not finite")
        return qparams(lo, hi)

    def _tensor(self, name: str, shape: tuple[int, ...], scale: float, zp: int) -> QTensor:
        # float32 scales (as TFLite stores them): multipliers derived from them are TFLite's
        t = QTensor(name, nhwc_shape(shape), "int8", float(np.float32(scale)), int(zp))
        self.tensors[name] = t
        return t

    def _act_bounds(self, act: str, t: QTensor) -> dict[str, int]:
        lo, hi = QMIN, QMAX
        if act in ("relu", "relu6"):
            lo = max(QMIN, min(QMAX, t.zero_point))
        if act == "relu6":
            hi = max(lo, min(QMAX, t.zero_point + int(round(6.0 / t.scale))))
        return {"act_min": lo, "act_max": hi}

    def run(self) -> QGraph:
        g = self.g
        s, zp = self._range(INPUT)
        self._tensor(INPUT, g.shapes[INPUT], s, zp)
        for n in g.nodes:
            try:
                self._node(n)
            except (ValueError, KeyError) as e:
                raise EdgembError(f"layer '{n.name}' ({n.op}): {e}") from None
        if g.output in self.flat_from:
            raise EdgembError(f"layer '{g.output}': a model output flattened from a feature map "
                              f"with H*W > 1 is not supported")
        return QGraph(self.tensors, self.nodes, [INPUT], [g.output])

    def _node(self, n: FNode) -> None:
        shape = self.g.shapes[n.name]
        ins = [self.tensors[t] for t in n.inputs]
        for t in n.inputs:
            if t in self.flat_from and n.op != "linear":
                raise EdgembError(f"layer '{n.name}' ({n.op}): reads a tensor flattened from a "
                                  f"feature map with H*W > 1; only a linear layer may")
        if n.op in _SAME_SCALE:
            out = self._tensor(n.name, shape, ins[0].scale, ins[0].zero_point)
        elif n.op == "softmax":
            out = self._tensor(n.name, shape, softmax.OUT_SCALE, softmax.OUT_ZP)
        else:
            out = self._tensor(n.name, shape, *self._range(n.name))
        getattr(self, "_" + n.op)(n, ins, out)

    def _emit(self, n: FNode, op: str, ins: list[str], attrs: dict[str, Any],
              params: dict[str, np.ndarray] | None = None, name: str | None = None) -> None:
        name = name or n.name
        self.nodes.append(QNode(name, op, list(ins), [name], attrs, params or {}))

    def _weighted(self, n: FNode, x: QTensor, out: QTensor, w: torch.Tensor
                  ) -> dict[str, np.ndarray]:
        s_w = weight_scales(w, self.per_tensor)
        bias_scale = x.scale * s_w.astype(np.float64)
        bias = np.round(n.params["bias"].detach().double().numpy() / bias_scale)
        m, sh = quantize_multipliers(bias_scale / out.scale)
        return {"weight": quantize_weight(w, s_w),
                "bias": np.clip(bias, -(2 ** 31), 2 ** 31 - 1).astype(np.int32),
                "multiplier": m, "shift": sh, "w_scale": s_w}

    def _conv2d(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        p = self._weighted(n, ins[0], out, n.params["weight"])
        p["weight"] = np.ascontiguousarray(p["weight"].transpose(0, 2, 3, 1))
        a = n.attrs
        self._emit(n, "conv2d", [ins[0].name], {
            "stride": list(a["stride"]), "padding": list(a["padding"]),
            "dilation": list(a["dilation"]), "groups": int(a["groups"]),
            **self._act_bounds(a.get("act", "none"), out)}, p)

    def _linear(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        if len(ins[0].shape) != 2:
            raise EdgembError(f"layer '{n.name}': linear layer on a feature map (flatten first)")
        w = n.params["weight"]
        if ins[0].name in self.flat_from:  # torch flattened NCHW, the QGraph flattens NHWC
            c, h, wd = self.flat_from[ins[0].name]
            w = w.reshape(-1, c, h, wd).permute(0, 2, 3, 1).reshape(w.shape[0], -1)
        p = self._weighted(n, ins[0], out, w)
        self._emit(n, "fully_connected", [ins[0].name],
                   self._act_bounds(n.attrs.get("act", "none"), out), p)

    def _add(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        a, b = ins
        twice_max = 2.0 * max(a.scale, b.scale)
        m, sh = quantize_multipliers(np.array([
            a.scale / twice_max, b.scale / twice_max,
            twice_max / ((1 << ADD_LEFT_SHIFT) * out.scale)]))
        self._emit(n, "add", [a.name, b.name], {
            "left_shift": ADD_LEFT_SHIFT, **self._act_bounds(n.attrs.get("act", "none"), out)},
            {"multiplier": m, "shift": sh})

    def _mul(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        a, b = ins
        if len(b.shape) == 2 and len(a.shape) == 4:  # (1, C) gate on a feature map
            name = f"{n.name}.gate"
            self.tensors[name] = QTensor(name, (1, 1, 1, b.shape[1]), "int8", b.scale,
                                         b.zero_point)
            self._emit(n, "reshape", [b.name], {"shape": [1, 1, 1, b.shape[1]]}, name=name)
            b = self.tensors[name]
        m, sh = quantize_multipliers(np.array([a.scale * b.scale / out.scale]))
        self._emit(n, "mul", [a.name, b.name], {"act_min": QMIN, "act_max": QMAX},
                   {"multiplier": m, "shift": sh})

    def _lut(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        x = ins[0]
        table = lut_table(n.op, x.scale, x.zero_point, out.scale, out.zero_point)
        self._emit(n, "lut", [x.name], {"fn": n.op}, {"table": table})

    _relu = _relu6 = _hardswish = _hardsigmoid = _sigmoid = _tanh = _lut

    def _avg_pool(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        a = n.attrs
        h, w = ins[0].shape[1:3]
        if a.get("global"):
            attrs = {"kernel": [h, w], "stride": [1, 1], "padding": [0, 0, 0, 0]}
        else:
            attrs = {"kernel": list(a["kernel"]), "stride": list(a["stride"]),
                     "padding": list(a["padding"])}
        self._emit(n, "avg_pool", [ins[0].name], {**attrs, "act_min": QMIN, "act_max": QMAX})

    def _flatten(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        _, h, w, c = ins[0].shape
        if h * w > 1 and n.attrs.get("order") != "nhwc":
            self.flat_from[n.name] = (c, h, w)
        self._emit(n, "reshape", [ins[0].name], {"shape": list(out.shape)})

    def _reshape(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        for shp in (ins[0].shape, out.shape):
            if len(shp) == 4 and shp[1] * shp[2] > 1:
                raise EdgembError(f"layer '{n.name}': reshape {ins[0].shape} -> {out.shape} "
                                  f"(NHWC) would reorder data; only reshapes between (N, C) "
                                  f"and (N, C, 1, 1) are supported")
        self._emit(n, "reshape", [ins[0].name], {"shape": list(out.shape)})

    def _concat(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        rank = len(out.shape)
        axis = (3 if n.attrs["axis"] == 1 else n.attrs["axis"] - 1) if rank == 4 \
            else n.attrs["axis"]
        if rank == 4 and n.attrs["axis"] == 0 or rank == 2 and axis != 1:
            raise EdgembError(f"layer '{n.name}': concat along the batch dimension")
        m, sh = quantize_multipliers(np.array([t.scale / out.scale for t in ins]))
        requant = [int(t.scale != out.scale or t.zero_point != out.zero_point) for t in ins]
        self._emit(n, "concat", [t.name for t in ins], {"axis": axis, "requant": requant},
                   {"multiplier": m, "shift": sh})

    def _resize_bilinear(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        self._emit(n, "resize_bilinear", [ins[0].name], {"size": list(n.attrs["size"])})

    def _softmax(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        d = np.arange(256, dtype=np.float64)
        table = np.round(np.exp(-d * ins[0].scale) * 65536.0).astype(np.int32)
        self._emit(n, "softmax", [ins[0].name], {}, {"exp_table": table})

    def _batch_norm(self, n: FNode, ins: list[QTensor], out: QTensor) -> None:
        raise EdgembError(f"layer '{n.name}': batch norm left in the graph (run bn_fold.prepare)")


def convert(g: FloatGraph, ranges: Ranges, per_tensor_weights: bool = False,
            meta: dict[str, Any] | None = None) -> QGraph:
    """Build the QGraph of a prepared (BN-folded) float graph from calibrated ranges."""
    q = _Converter(g, ranges, per_tensor_weights).run()
    q.meta = {**g.meta, **(meta or {}), "per_tensor_weights": bool(per_tensor_weights),
              "input_layout": "NHWC"}
    validate(q, "converted model")
    return q


def quantize_float_graph(g: FloatGraph, calib: torch.Tensor, method: str = "minmax",
                         per_tensor_weights: bool = False,
                         progress: Callable[[int], None] | None = None,
                         meta: dict[str, Any] | None = None, batch_size: int = 16) -> QGraph:
    """Calibrate `g` on (N, C, H, W) float images with `method`, then convert."""
    ranges = calibrate(g, batched(calib, batch_size), method, progress)
    return convert(g, ranges, per_tensor_weights, {"method": method, **(meta or {})})


def quantize_module(module: nn.Module, calib: torch.Tensor, method: str = "minmax",
                    per_tensor_weights: bool = False,
                    progress: Callable[[int], None] | None = None,
                    meta: dict[str, Any] | None = None) -> QGraph:
    """Capture, fold BN, calibrate on `calib` (N, C, H, W float) and convert to a QGraph."""
    if calib.dim() != 4 or calib.shape[0] < 1:
        raise EdgembError(f"calibration images must be (N, C, H, W), got {tuple(calib.shape)}")
    g = capture(module, tuple(calib.shape[1:]))
    base = {k: getattr(module, k) for k in ("arch", "resolution", "in_channels")
            if isinstance(getattr(module, k, None), (str, int, float))}
    return quantize_float_graph(g, calib, method, per_tensor_weights, progress,
                                {**base, **(meta or {})})


def quantize_input(g: QGraph, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float NCHW (N, C, H, W) or (C, H, W) -> int8 NHWC with the graph input's scale/zp."""
    t = g.tensors[g.inputs[0]]
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if x.dim() == 3:
        x = x[None]
    q = torch.clamp(torch.round(x / t.scale) + t.zero_point, QMIN, QMAX).to(torch.int8)
    return np.ascontiguousarray(q.permute(0, 2, 3, 1).numpy())


def dequantize(t: QTensor, y: np.ndarray) -> np.ndarray:
    return ((np.asarray(y, dtype=np.float64) - t.zero_point) * t.scale).astype(np.float32)


def dequantize_output(g: QGraph, y: np.ndarray) -> np.ndarray:
    """int8 graph output -> float32 real values (same layout)."""
    return dequantize(g.tensors[g.outputs[0]], y)
