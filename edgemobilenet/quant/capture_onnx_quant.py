"""The quantized-model half of the ONNX builder (`capture_onnx.py`): QuantizeLinear /
DequantizeLinear pairs (QDQ) and onnxruntime's QLinearConv, QGemm, QLinearMatMul, QLinearAdd,
QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearSigmoid, QLinearSoftmax and
QLinearConcat (QOperator). Each becomes its float op on dequantized weights, and the file's
scales, zero points, integer weights and biases are recorded in a `QuantInfo` for
`onnx_qdq_import.py`. uint8 zero points are stored shifted by -128 (int8).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from edgemobilenet.quant.onnx_views import View

QOPS = {"QLinearConv": "Conv", "QLinearMatMul": "MatMul", "QGemm": "Gemm",
         "QLinearAdd": "Add", "QLinearMul": "Mul", "QLinearGlobalAveragePool": "GlobalAveragePool",
         "QLinearAveragePool": "AveragePool", "QLinearSigmoid": "Sigmoid",
         "QLinearConcat": "Concat", "QLinearSoftmax": "Softmax"}
QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", *QOPS}


@dataclass
class QConst:
    """A constant the file stores quantized: real = scale * (q - zero_point) along `axis`."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int


@dataclass
class QuantInfo:
    """What a quantized ONNX file fixes, keyed by float-graph tensor / node name.

    qparams: (scale, int8 zero point) per tensor (uint8 zero points shifted by -128);
    weights: per conv/linear node, `w_scale` (OC,), and `bias` int32 (OC,) with `bias_scale`;
    links: per tensor, the ONNX tensor holding its quantized value, as (name, view, unsigned).
    """

    qparams: dict[str, tuple[float, int]] = field(default_factory=dict)
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    links: dict[str, tuple[str, View, bool]] = field(default_factory=dict)
    input_name: str = ""
    input_layout: str = "NCHW"


class QuantizedOps:
    """Mixin of `capture_onnx._OnnxBuilder`: the handlers of quantized ops."""

    def _qp(self, scale: str, zp: str | None) -> tuple[float, int, bool]:
        """(scale, int8 zero point, stored unsigned) of one per-tensor activation."""
        s = self._const(scale)
        z = self._const(zp) if zp else None
        if s is None or s.size != 1 or not (np.isfinite(s).all() and float(s.ravel()[0]) > 0):
            raise ValueError(f"activation scale '{scale}' must be one positive constant")
        if zp and z is None or z is not None and z.size != 1:
            raise ValueError(f"activation zero point '{zp}' must be one constant")
        unsigned = z is None or z.dtype == np.uint8
        if z is not None and z.dtype not in (np.uint8, np.int8):
            raise ValueError(f"zero point '{zp}' is {z.dtype}; only 8-bit activations")
        zv = 0 if z is None else int(z.ravel()[0])
        return float(s.ravel()[0]), zv - 128 if unsigned else zv, unsigned

    def _set_qparams(self, src: str, qp: tuple[float, int, bool]) -> None:
        old = self.info.qparams.get(src)
        new = (qp[0], qp[1])
        if old is not None and (np.float32(old[0]) != np.float32(new[0]) or old[1] != new[1]):
            raise ValueError(f"tensor '{src}' is quantized twice, with {old} and {new}")
        self.info.qparams[src] = new

    def _link(self, v: View, name: str, unsigned: bool) -> None:
        if not v.pads:
            self.info.links.setdefault(v.src, (name, v, unsigned))

    def _op_QuantizeLinear(self, node, path, a, ins) -> None:
        if self._const(ins[0]) is not None:     # float weights quantized in the graph
            x, s = self._const(ins[0]).astype(np.float64), self._const(ins[1]).astype(np.float64)
            z = self._const(ins[2]) if len(ins) > 2 and ins[2] else np.zeros((), np.uint8)
            axis = int(a.get("axis", 1)) % max(x.ndim, 1)
            shp = [1] * x.ndim
            if s.size > 1:
                shp[axis] = -1
            info = np.iinfo(z.dtype)
            q = np.clip(np.rint(x / s.reshape(shp)) + z.astype(np.int64).reshape(shp), info.min,
                        info.max)
            self.consts[node.output[0]] = q.astype(z.dtype)
            return
        v = self._view(ins[0])
        qp = self._qp(ins[1], ins[2] if len(ins) > 2 else None)
        self._set_qparams(v.src, qp)
        self.views[node.output[0]] = v
        self.unsigned[node.output[0]] = qp[2]
        self._link(v, node.output[0], qp[2])

    def _op_DequantizeLinear(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        qp = self._qp(ins[1], ins[2] if len(ins) > 2 else None)
        self._set_qparams(v.src, qp)
        self.views[node.output[0]] = v
        self._link(v, ins[0], qp[2])

    def _q_in(self, v: View, name: str, scale: str, zp: str) -> None:
        self._set_qparams(v.src, self._qp(scale, zp))
        self._link(v, name, self.unsigned.get(name, self._qp(scale, zp)[2]))

    def _q_out(self, node: onnx.NodeProto, scale: str, zp: str) -> None:
        qp = self._qp(scale, zp)
        v = self.views[node.output[0]]
        self._set_qparams(v.src, qp)
        self.unsigned[node.output[0]] = qp[2]
        self._link(v, node.output[0], qp[2])

    def _qweight(self, path: str, name: str, wscale: str, wzp: str, axis: int) -> np.ndarray:
        """Record an integer weight of a QLinear op as a QConst; return its real values."""
        q, s = self._const(name), self._const(wscale)
        z = self._const(wzp) if wzp else np.zeros((), q.dtype if q is not None else np.int8)
        if q is None or s is None or z is None:
            raise ValueError("quantized weights, scales and zero points must be constants")
        shp = [1] * q.ndim
        if s.size > 1:
            shp[axis] = -1
        real = (q.astype(np.float64) - z.astype(np.float64).reshape(shp if z.size > 1 else [])) \
            * s.astype(np.float64).reshape(shp)
        self.qconst[name] = QConst(q, s.astype(np.float64), z, axis)
        return real

    def _op_QLinearConv(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        self._q_in(v, ins[0], ins[1], ins[2])
        w = self._qweight(path, ins[3], ins[4], ins[5], 0)
        b = None
        if len(ins) > 8 and ins[8]:
            bq = self._const(ins[8])
            s_b = float(self._const(ins[1]).ravel()[0]) * \
                np.broadcast_to(self._const(ins[4]).astype(np.float64).ravel(), (w.shape[0],))
            self.qconst[ins[8]] = QConst(bq, s_b, np.zeros((), np.int32), 0)
            b = bq.astype(np.float64) * s_b
        self._conv(node, path, a, v, w, b)
        self._weights_from_file(path, ins[3], ins[8] if len(ins) > 8 else "", 0)
        self._q_out(node, ins[6], ins[7])

    def _op_QGemm(self, node, path, a, ins) -> None:
        if len(ins) < 9 or not ins[7]:
            raise ValueError("QGemm with a float output is not supported")
        v = self._view(ins[0])
        self._q_in(v, ins[0], ins[1], ins[2])
        tb = bool(a.get("transB", 0))
        w = self._qweight(path, ins[3], ins[4], ins[5], 0 if tb else 1)
        w = (w if tb else w.T) * float(a.get("alpha", 1.0))
        b = None
        if ins[6]:
            bq = self._const(ins[6])
            s_b = float(self._const(ins[1]).ravel()[0]) * \
                np.broadcast_to(self._const(ins[4]).astype(np.float64).ravel(), (w.shape[0],))
            self.qconst[ins[6]] = QConst(bq, s_b, np.zeros((), np.int32), 0)
            b = bq.astype(np.float64) * s_b
        self._linear(node, path, v, w, b)
        self._weights_from_file(path, ins[3], ins[6], 0 if tb else 1)
        self._q_out(node, ins[7], ins[8])

    def _op_QLinearMatMul(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        self._q_in(v, ins[0], ins[1], ins[2])
        w = self._qweight(path, ins[3], ins[4], ins[5], 1)
        self._linear(node, path, v, w.T, None)
        self._weights_from_file(path, ins[3], "", 1)
        self._q_out(node, ins[6], ins[7])

    def _op_QLinearAdd(self, node, path, a, ins) -> None:
        op = QOPS[node.op_type]
        operands = [ins[0:3], ins[3:6]]
        consts = [k for k, (x, _, _) in enumerate(operands) if self._const(x) is not None]
        if len(consts) == 2:
            raise ValueError(f"{node.op_type} of two constants")
        if consts:                      # x op constant (a spelled-out activation's +3, /6)
            k = consts[0]
            x, s, z = operands[1 - k]
            v = self._view(x)
            self._q_in(v, x, s, z)
            c, cs, cz = operands[k]
            real = (self._const(c).astype(np.float64) - self._const(cz).astype(np.float64)) \
                * self._const(cs).astype(np.float64)
            self._affine(node, path, op, v, real, const_first=k == 0)
        else:
            va, vb = self._view(ins[0]), self._view(ins[3])
            self._q_in(va, ins[0], ins[1], ins[2])
            self._q_in(vb, ins[3], ins[4], ins[5])
            self._binary(node, path, op, va, vb)
        self._q_out(node, ins[6], ins[7])

    _op_QLinearMul = _op_QLinearAdd

    def _op_QLinearGlobalAveragePool(self, node, path, a, ins) -> None:
        v = self._view(ins[0])
        self._q_in(v, ins[0], ins[1], ins[2])
        if a.get("channels_last", 0):
            self._mean(node, path, v, [1, 2], True)
        else:
            self._op_GlobalAveragePool(node, path, a, ins[:1])
        self._q_out(node, ins[3], ins[4])

    def _op_QLinearAveragePool(self, node, path, a, ins) -> None:
        if a.get("channels_last", 0):
            raise ValueError("channels_last average pooling is not supported")
        self._q_in(self._view(ins[0]), ins[0], ins[1], ins[2])
        self._op_AveragePool(node, path, a, ins[:1])
        self._q_out(node, ins[3], ins[4])

    def _op_QLinearSigmoid(self, node, path, a, ins) -> None:
        self._q_in(self._view(ins[0]), ins[0], ins[1], ins[2])
        self._unary(node, path, "sigmoid", ins[:1])
        self._q_out(node, ins[3], ins[4])

    def _op_QLinearSoftmax(self, node, path, a, ins) -> None:
        self._q_in(self._view(ins[0]), ins[0], ins[1], ins[2])
        self._op_Softmax(node, path, a, ins[:1])
        self._q_out(node, ins[3], ins[4])

    def _op_QLinearConcat(self, node, path, a, ins) -> None:
        triples = [ins[i:i + 3] for i in range(2, len(ins), 3)]
        for x, s, z in triples:
            self._q_in(self._view(x), x, s, z)
        self._op_Concat(node, path, a, [t[0] for t in triples])
        self._q_out(node, ins[0], ins[1])

    def _weights_from_file(self, path: str, w_name: str, b_name: str, oc_axis: int) -> None:
        """For a quantized file: the conv/linear just emitted keeps the file's weight scales
        and integer bias (checked: int8 symmetric, or uint8 with zero point 128)."""
        if w_name not in self.qconst:
            return
        node = self.nodes[-1]
        wq = self.qconst[w_name]
        oc = node.params["weight"].shape[0]
        if wq.scale.size > 1 and wq.axis != oc_axis:
            raise ValueError(f"weights quantized along axis {wq.axis}, not per output channel")
        zero = 128 if wq.q.dtype == np.uint8 else 0
        if np.any(wq.zero_point.astype(np.int64) != zero):
            raise ValueError("weights with a non-zero (asymmetric) zero point are not supported")
        rec = {"w_scale": np.broadcast_to(wq.scale.ravel(), (oc,)).astype(np.float64)}
        bq = self.qconst.get(b_name) if b_name else None
        if bq is not None:              # else a float bias, quantized at s_in * s_w later
            if bq.q.dtype != np.int32 or np.any(bq.zero_point != 0):
                raise ValueError("the bias of a quantized layer must be int32 with zero point 0")
            rec["bias"] = np.broadcast_to(bq.q.ravel(), (oc,)).astype(np.int32)
            rec["bias_scale"] = np.broadcast_to(bq.scale.ravel(), (oc,)).astype(np.float64)
        self.info.weights[node.name] = rec
