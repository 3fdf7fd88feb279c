"""Hand-built QGraphs for tests of every backend (reference, C kernels, TVM).

`GraphBuilder` appends nodes one at a time with random weights and calibrates each output
the way a real converter does: it runs the float op (torch) on the dequantized int8 sample
activations, takes min/max (zero included, ReLU/ReLU6 folded into the clamp), and computes
int32 multipliers with `fixedpoint.quantize_multipliers`. The int8 sample then advances
through the numpy reference, so every layer sees realistic inputs.

Single-op graphs (one function per op, all keyword arguments optional):

    from qgraph_builders import conv2d, SINGLE_OP_BUILDERS
    g = conv2d(np.random.default_rng(0), c_in=8, c_out=16, kernel=3, stride=2, act="relu6")
    x = sample_input(g, np.random.default_rng(1))   # int8, graph input shape

`SINGLE_OP_BUILDERS` maps a case name to a builder taking only `rng`; `mobilenet_v2(rng,
width, resolution, num_classes)` builds a whole random-weight MobileNetV2 QGraph.
`float_forward(node, xs, in_t)` is the float semantics of one node on dequantized inputs.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from edgemobilenet.quant.fixedpoint import quantize_multiplier, quantize_multipliers
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor, validate
from edgemobilenet.quant.tflite_tables import resize_table as tflite_resize_table
from edgemobilenet.quant.reference import run_node

LUT_FNS = ("hardswish", "hardsigmoid", "sigmoid", "relu", "relu6", "tanh")
_TORCH_FNS = {"hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid, "sigmoid": torch.sigmoid,
              "relu": F.relu, "relu6": F.relu6, "tanh": torch.tanh}


def dequantize(q: np.ndarray, t: QTensor) -> np.ndarray:
    return (q.astype(np.float64) - t.zero_point) * t.scale


def quantize(y: np.ndarray, t: QTensor, lo: int = -128, hi: int = 127) -> np.ndarray:
    """Float -> int8 with round-half-to-even, then clamp to [lo, hi]."""
    return np.clip(np.round(y / t.scale) + t.zero_point, lo, hi).astype(np.int8)


def minmax_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 scale and zero point covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-6) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def sample_input(g: QGraph, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-128, 128, g.tensors[g.inputs[0]].shape, dtype=np.int8)


def _t(x: np.ndarray) -> torch.Tensor:
    """NHWC float64 numpy -> NCHW torch (2-D arrays unchanged)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    return t.permute(0, 3, 1, 2) if t.dim() == 4 else t


def _n(t: torch.Tensor) -> np.ndarray:
    return (t.permute(0, 2, 3, 1) if t.dim() == 4 else t).contiguous().numpy()


def float_forward(node: QNode, xs: list[np.ndarray], in_t: list[QTensor]) -> np.ndarray:
    """The float op of `node` on dequantized NHWC inputs, with dequantized parameters."""
    a, p, op = node.attrs, node.params, node.op
    if op in ("conv2d", "fully_connected", "fully_connected_single_round"):
        w_scale = p["w_scale"].astype(np.float64)
        w = p["weight"].astype(np.float64) * w_scale.reshape(-1, *[1] * (p["weight"].ndim - 1))
        b = torch.from_numpy(p["bias"].astype(np.float64) * in_t[0].scale * w_scale)
        if op != "conv2d":
            return _n(F.linear(_t(xs[0]), torch.from_numpy(w), b))
        t, l, bo, r = a.get("padding", [0, 0, 0, 0])
        x = F.pad(_t(xs[0]), (l, r, t, bo), value=0.0)
        wt = torch.from_numpy(w).permute(0, 3, 1, 2)
        groups = a.get("groups", 1)
        # torch's float64 grouped conv is a slow path; float32 is ample for short group sums
        dt = torch.float32 if groups > 1 else torch.float64
        y = F.conv2d(x.to(dt), wt.to(dt), b.to(dt), stride=a.get("stride", [1, 1]),
                     dilation=a.get("dilation", [1, 1]), groups=groups)
        return _n(y.double())
    if op == "add":
        return xs[0] + xs[1]
    if op == "mul":
        return xs[0] * xs[1]
    if op == "lut":
        return _n(_TORCH_FNS[a["fn"]](_t(xs[0])))
    if op == "avg_pool":
        t, l, bo, r = a.get("padding", [0, 0, 0, 0])
        if (t, l) != (bo, r):
            raise ValueError("float_forward supports symmetric avg_pool padding only")
        return _n(F.avg_pool2d(_t(xs[0]), a["kernel"], a.get("stride", [1, 1]), [t, l],
                               count_include_pad=False))
    if op == "max_pool":
        t, l, bo, r = a.get("padding", [0, 0, 0, 0])
        x = F.pad(_t(xs[0]), (l, r, t, bo), value=-np.inf)
        return _n(F.max_pool2d(x, a["kernel"], a.get("stride", [1, 1])))
    if op == "reshape":
        return xs[0].reshape(a["shape"])
    if op == "concat":
        return np.concatenate(xs, axis=a.get("axis", 3))
    if op == "resize_bilinear":
        return _n(F.interpolate(_t(xs[0]), size=tuple(a["size"]), mode="bilinear",
                                align_corners=False))
    if op == "resize_table":
        r, c = p["rows"].astype(np.int64), p["cols"].astype(np.int64)
        x = xs[0][0]
        v = sum(x[r[:, i]][:, c[:, j]] * (r[:, 2 + i, None, None] * c[None, :, 2 + j, None])
                for i in range(2) for j in range(2))
        return (v / float(1 << 20))[None]
    if op == "softmax":
        return torch.softmax(_t(xs[0]), dim=-1).numpy()
    raise ValueError(f"no float semantics for op {op}")


def _act_range(act: str, scale: float, zp: int) -> tuple[int, int]:
    if act == "none":
        return -128, 127
    hi = 127 if act == "relu" else min(127, zp + round(6.0 / scale))
    return max(-128, zp), hi


class GraphBuilder:
    """Append calibrated nodes to a graph with one int8 NHWC (or (1, C)) input."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...],
                 scale: float = 1 / 64, zero_point: int = 0, sample: np.ndarray | None = None):
        self.rng = rng
        self.tensors: dict[str, QTensor] = {"input": QTensor("input", tuple(shape), "int8",
                                                             scale, zero_point)}
        self.nodes: list[QNode] = []
        x = sample if sample is not None else rng.integers(-128, 128, shape, dtype=np.int8)
        self.samples: dict[str, np.ndarray] = {"input": x}

    # -- plumbing ---------------------------------------------------------------------------
    def _name(self, op: str) -> str:
        return f"{op}_{len(self.nodes)}"

    def _float(self, node: QNode) -> np.ndarray:
        in_t = [self.tensors[t] for t in node.inputs]
        xs = [dequantize(self.samples[t], q) for t, q in zip(node.inputs, in_t)]
        return float_forward(node, xs, in_t)

    def _finish(self, node: QNode, out: QTensor) -> str:
        """Declare the output tensor, then advance the int8 sample through the reference."""
        self.tensors[out.name] = out
        node.outputs = [out.name]
        self.nodes.append(node)
        g = QGraph(self.tensors, self.nodes, ["input"], [out.name])
        self.samples[out.name] = run_node(g, node, [self.samples[t] for t in node.inputs])
        return out.name

    def _calibrated_out(self, node: QNode, act: str = "none",
                        fixed: tuple[float, int] | None = None) -> QTensor:
        y = self._float(node)
        if act == "relu":
            y = np.maximum(y, 0)
        elif act == "relu6":
            y = np.clip(y, 0, 6)
        scale, zp = fixed or minmax_qparams(float(y.min()), float(y.max()))
        return QTensor(node.name + ":0", tuple(y.shape), "int8", scale, zp)

    # -- ops --------------------------------------------------------------------------------
    def conv2d(self, x: str, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
               padding: list[int] | None = None, dilation: int = 1, act: str = "none") -> str:
        xt = self.tensors[x]
        c_in = xt.shape[3]
        cg = c_in // groups
        fan_in = kernel * kernel * cg
        # per-channel magnitudes vary over a decade, as after BN folding
        w = self.rng.normal(0, math.sqrt(2.0 / fan_in), (c_out, kernel, kernel, cg))
        w *= np.exp(self.rng.uniform(-1.2, 1.2, (c_out, 1, 1, 1)))
        if padding is None:
            pad = dilation * (kernel - 1) // 2
            padding = [pad, pad, pad, pad]
        node = QNode(self._name("conv"), "conv2d", [x], [], {
            "stride": [stride, stride], "padding": list(padding),
            "dilation": [dilation, dilation], "groups": groups, "act_min": -128, "act_max": 127})
        return self._weighted(node, w, act)

    def fully_connected(self, x: str, c_out: int, act: str = "none") -> str:
        c_in = self.tensors[x].shape[1]
        w = self.rng.normal(0, math.sqrt(1.0 / c_in), (c_out, c_in))
        node = QNode(self._name("fc"), "fully_connected", [x], [], {"act_min": -128, "act_max": 127})
        return self._weighted(node, w, act)

    def _weighted(self, node: QNode, w: np.ndarray, act: str) -> str:
        s_in = self.tensors[node.inputs[0]].scale
        c_out = w.shape[0]
        w_scale = np.maximum(np.abs(w).reshape(c_out, -1).max(axis=1), 1e-8) / 127.0
        w_scale = w_scale.astype(np.float32)
        shape = (-1,) + (1,) * (w.ndim - 1)
        node.params["weight"] = np.clip(np.round(w / w_scale.reshape(shape)), -127, 127).astype(np.int8)
        bias = self.rng.normal(0, 0.1, c_out)
        node.params["bias"] = np.round(bias / (s_in * w_scale.astype(np.float64))).astype(np.int32)
        node.params["w_scale"] = w_scale
        out = self._calibrated_out(node, act)
        real = s_in * w_scale.astype(np.float64) / out.scale
        node.params["multiplier"], node.params["shift"] = quantize_multipliers(real)
        node.attrs["act_min"], node.attrs["act_max"] = _act_range(act, out.scale, out.zero_point)
        return self._finish(node, out)

    def add(self, a: str, b: str, act: str = "none") -> str:
        node = QNode(self._name("add"), "add", [a, b], [], {"left_shift": 20})
        out = self._calibrated_out(node, act)
        sa, sb = self.tensors[a].scale, self.tensors[b].scale
        twice_max = 2 * max(sa, sb)
        reals = [sa / twice_max, sb / twice_max, twice_max / ((1 << 20) * out.scale)]
        node.params["multiplier"], node.params["shift"] = quantize_multipliers(np.array(reals))
        node.attrs["act_min"], node.attrs["act_max"] = _act_range(act, out.scale, out.zero_point)
        return self._finish(node, out)

    def mul(self, a: str, b: str) -> str:
        node = QNode(self._name("mul"), "mul", [a, b], [], {"act_min": -128, "act_max": 127})
        out = self._calibrated_out(node)
        m, s = quantize_multiplier(self.tensors[a].scale * self.tensors[b].scale / out.scale)
        node.params["multiplier"] = np.array([m], np.int32)
        node.params["shift"] = np.array([s], np.int32)
        return self._finish(node, out)

    def lut(self, x: str, fn: str) -> str:
        xt = self.tensors[x]
        grid = dequantize(np.arange(-128, 128), xt)
        y = _n(_TORCH_FNS[fn](torch.from_numpy(grid)))
        scale, zp = minmax_qparams(float(y.min()), float(y.max()))
        out = QTensor(self._name("lut") + ":0", xt.shape, "int8", scale, zp)
        node = QNode(self._name("lut"), "lut", [x], [], {"fn": fn},
                     {"table": quantize(y, out)})
        return self._finish(node, out)

    def _same_q(self, node: QNode, x: str, shape: tuple[int, ...]) -> str:
        xt = self.tensors[x]
        return self._finish(node, QTensor(node.name + ":0", shape, "int8", xt.scale, xt.zero_point))

    def avg_pool(self, x: str, kernel: list[int] | None = None, stride: int = 1,
                 padding: list[int] | None = None) -> str:
        _, h, w, c = self.tensors[x].shape
        kernel = kernel or [h, w]
        padding = padding or [0, 0, 0, 0]
        oh = (h + padding[0] + padding[2] - kernel[0]) // stride + 1
        ow = (w + padding[1] + padding[3] - kernel[1]) // stride + 1
        node = QNode(self._name("pool"), "avg_pool", [x], [], {
            "kernel": list(kernel), "stride": [stride, stride], "padding": list(padding),
            "act_min": -128, "act_max": 127})
        return self._same_q(node, x, (1, oh, ow, c))

    def max_pool(self, x: str, kernel: list[int], stride: int = 1,
                 padding: list[int] | None = None) -> str:
        _, h, w, c = self.tensors[x].shape
        padding = padding or [0, 0, 0, 0]
        oh = (h + padding[0] + padding[2] - kernel[0]) // stride + 1
        ow = (w + padding[1] + padding[3] - kernel[1]) // stride + 1
        node = QNode(self._name("maxpool"), "max_pool", [x], [], {
            "kernel": list(kernel), "stride": [stride, stride], "padding": list(padding),
            "act_min": -128, "act_max": 127})
        return self._same_q(node, x, (1, oh, ow, c))

    def reshape(self, x: str, shape: tuple[int, ...]) -> str:
        node = QNode(self._name("reshape"), "reshape", [x], [], {"shape": list(shape)})
        return self._same_q(node, x, tuple(shape))

    def resize_bilinear(self, x: str, size: tuple[int, int]) -> str:
        c = self.tensors[x].shape[3]
        node = QNode(self._name("resize"), "resize_bilinear", [x], [], {"size": list(size)})
        return self._same_q(node, x, (1, size[0], size[1], c))

    def resize_table(self, x: str, size: tuple[int, int], mode: str, align: bool = False,
                     half: bool = True) -> str:
        """TFLite's RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR as Q10 tables."""
        _, h, w, c = self.tensors[x].shape
        node = QNode(self._name("resize"), "resize_table", [x], [], {
            "mode": mode, "align_corners": int(align), "half_pixel": int(half)}, {
            "rows": tflite_resize_table(mode, size[0], h, align, half),
            "cols": tflite_resize_table(mode, size[1], w, align, half)})
        return self._same_q(node, x, (1, size[0], size[1], c))

    def concat(self, xs: list[str], axis: int = 3, like: str | None = None) -> str:
        """Concatenate; the output takes tensor `like`'s scale and zero point if given."""
        node = QNode(self._name("concat"), "concat", list(xs), [], {"axis": axis})
        ts = [self.tensors[t] for t in xs]
        fixed = (self.tensors[like].scale, self.tensors[like].zero_point) if like else None
        out = self._calibrated_out(node, fixed=fixed)
        node.attrs["requant"] = [int(t.scale != out.scale or t.zero_point != out.zero_point)
                                 for t in ts]
        m, s = quantize_multipliers(np.array([t.scale / out.scale for t in ts]))
        node.params.update(multiplier=m, shift=s)
        return self._finish(node, out)

    def softmax(self, x: str) -> str:
        s_x = self.tensors[x].scale
        table = np.round(np.exp(-np.arange(256) * s_x) * 65536).astype(np.int32)
        node = QNode(self._name("softmax"), "softmax", [x], [], {}, {"exp_table": table})
        shape = self.tensors[x].shape
        return self._finish(node, QTensor(node.name + ":0", shape, "int8", 1 / 256, -128))

    def build(self, outputs: list[str] | str, meta: dict | None = None) -> QGraph:
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        g = QGraph(dict(self.tensors), list(self.nodes), ["input"], outputs, dict(meta or {}))
        validate(g, "builder")
        return g


# -- single-op graphs ------------------------------------------------------------------------
def conv2d(rng: np.random.Generator, *, h: int = 9, w: int = 9, c_in: int = 8, c_out: int = 16,
           kernel: int = 3, stride: int = 1, groups: int = 1, padding: list[int] | None = None,
           dilation: int = 1, act: str = "none") -> QGraph:
    b = GraphBuilder(rng, (1, h, w, c_in), 0.05, -10)
    return b.build(b.conv2d("input", c_out, kernel, stride, groups, padding, dilation, act))


def depthwise(rng: np.random.Generator, *, h: int = 9, w: int = 9, c: int = 16, kernel: int = 3,
              stride: int = 1, act: str = "relu6") -> QGraph:
    return conv2d(rng, h=h, w=w, c_in=c, c_out=c, kernel=kernel, stride=stride, groups=c, act=act)


def fully_connected(rng: np.random.Generator, *, c_in: int = 64, c_out: int = 10,
                    act: str = "none") -> QGraph:
    b = GraphBuilder(rng, (1, c_in), 0.03, 5)
    return b.build(b.fully_connected("input", c_out, act))


def add(rng: np.random.Generator, *, shape: tuple[int, ...] = (1, 6, 6, 8),
        act: str = "none") -> QGraph:
    """y = x + conv1x1(x): two inputs with different scales and zero points."""
    b = GraphBuilder(rng, shape, 0.04, 3)
    branch = b.conv2d("input", shape[3], kernel=1)
    return b.build(b.add("input", branch, act))


def mul(rng: np.random.Generator, *, h: int = 6, w: int = 6, c: int = 8) -> QGraph:
    """Squeeze-excite: x * hardsigmoid(fc(avg_pool(x))) broadcast over (1, 1, 1, C)."""
    b = GraphBuilder(rng, (1, h, w, c), 0.04, -3)
    se = b.lut(b.conv2d(b.avg_pool("input"), c, kernel=1), "hardsigmoid")
    return b.build(b.mul("input", se))


def lut(rng: np.random.Generator, *, shape: tuple[int, ...] = (1, 4, 4, 16),
        fn: str = "hardswish") -> QGraph:
    b = GraphBuilder(rng, shape, 0.05, -20)
    return b.build(b.lut("input", fn))


def avg_pool(rng: np.random.Generator, *, h: int = 7, w: int = 7, c: int = 8,
             kernel: list[int] | None = None, stride: int = 1,
             padding: list[int] | None = None) -> QGraph:
    b = GraphBuilder(rng, (1, h, w, c), 0.05, 7)
    return b.build(b.avg_pool("input", kernel, stride, padding))


def _single_round(g: QGraph) -> QGraph:
    """The same FC requantized with one rounding (TFLite's per-channel FULLY_CONNECTED)."""
    for n in g.nodes:
        if n.op == "fully_connected":
            n.op = "fully_connected_single_round"
    return g


def max_pool(rng: np.random.Generator, *, h: int = 7, w: int = 7, c: int = 8,
             kernel: list[int] | None = None, stride: int = 2,
             padding: list[int] | None = None) -> QGraph:
    b = GraphBuilder(rng, (1, h, w, c), 0.05, -7)
    return b.build(b.max_pool("input", kernel or [3, 3], stride, padding))


def resize_table(rng: np.random.Generator, *, mode: str = "bilinear", align: bool = False,
                 half: bool = True, h: int = 5, w: int = 7, c: int = 4,
                 size: tuple[int, int] = (12, 9)) -> QGraph:
    b = GraphBuilder(rng, (1, h, w, c), 0.05, -5)
    return b.build(b.resize_table("input", size, mode, align, half))


def concat(rng: np.random.Generator, *, h: int = 5, w: int = 5, c: int = 6) -> QGraph:
    """concat([x, conv(x), x]) at x's scale: the conv branch requantized, x copied twice."""
    b = GraphBuilder(rng, (1, h, w, c), 0.05, 0)
    branch = b.conv2d("input", c + 2, kernel=1)
    return b.build(b.concat(["input", branch, "input"], like="input"))


def resize_bilinear(rng: np.random.Generator, *, h: int = 5, w: int = 7, c: int = 4,
                    size: tuple[int, int] = (12, 9)) -> QGraph:
    b = GraphBuilder(rng, (1, h, w, c), 0.05, -5)
    return b.build(b.resize_bilinear("input", size))


def softmax(rng: np.random.Generator, *, c: int = 10, scale: float = 0.08) -> QGraph:
    b = GraphBuilder(rng, (1, c), scale, 10)
    return b.build(b.softmax("input"))


def reshape(rng: np.random.Generator, *, h: int = 3, w: int = 3, c: int = 4) -> QGraph:
    """conv -> reshape to (1, H*W*C) -> fc: the flatten path."""
    b = GraphBuilder(rng, (1, h, w, c), 0.05, 0)
    flat = b.reshape(b.conv2d("input", c, kernel=1), (1, h * w * c))
    return b.build(b.fully_connected(flat, 5))


SINGLE_OP_BUILDERS = {
    "conv3x3": lambda rng: conv2d(rng),
    "conv3x3_s2_relu6": lambda rng: conv2d(rng, stride=2, act="relu6"),
    "conv1x1_relu": lambda rng: conv2d(rng, kernel=1, act="relu"),
    "conv5x5_asym_pad": lambda rng: conv2d(rng, kernel=5, stride=2, padding=[1, 2, 2, 1]),
    "conv_dilated": lambda rng: conv2d(rng, dilation=2),
    "conv_grouped": lambda rng: conv2d(rng, groups=2),
    "depthwise3x3": lambda rng: depthwise(rng),
    "depthwise3x3_s2": lambda rng: depthwise(rng, h=10, w=10, stride=2),
    "depthwise5x5": lambda rng: depthwise(rng, kernel=5, act="none"),
    "fully_connected": lambda rng: fully_connected(rng),
    "add": lambda rng: add(rng),
    "add_relu": lambda rng: add(rng, act="relu"),
    "mul_se": lambda rng: mul(rng),
    **{f"lut_{fn}": (lambda rng, fn=fn: lut(rng, fn=fn)) for fn in LUT_FNS},
    "avg_pool_global": lambda rng: avg_pool(rng),
    "avg_pool_3x3_s2_pad": lambda rng: avg_pool(rng, kernel=[3, 3], stride=2, padding=[1, 1, 1, 1]),
    "fully_connected_single_round": lambda rng: _single_round(fully_connected(rng)),
    "max_pool_3x3_s2": lambda rng: max_pool(rng),
    "max_pool_2x2_pad": lambda rng: max_pool(rng, h=6, w=5, kernel=[2, 2], padding=[0, 1, 1, 0]),
    "concat": lambda rng: concat(rng),
    "resize_up": lambda rng: resize_bilinear(rng),
    "resize_down": lambda rng: resize_bilinear(rng, h=9, w=8, size=(4, 5)),
    "resize_table_bilinear": lambda rng: resize_table(rng),
    "resize_table_bilinear_align_down": lambda rng: resize_table(rng, align=True, half=False,
                                                                 h=9, w=8, size=(4, 5)),
    "resize_table_nearest": lambda rng: resize_table(rng, mode="nearest"),
    "softmax": lambda rng: softmax(rng),
    "reshape_fc": lambda rng: reshape(rng),
}


# -- a whole network -------------------------------------------------------------------------
_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]


def _make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def mobilenet_v2(rng: np.random.Generator, *, width: float = 1.0, resolution: int = 224,
                 num_classes: int = 1000) -> QGraph:
    """Random-weight MobileNetV2 (torchvision topology) calibrated on one random image."""
    b = GraphBuilder(rng, (1, resolution, resolution, 3), 0.0186, -14)
    c = _make_divisible(32 * width)
    x = b.conv2d("input", c, 3, 2, act="relu6")
    for t, ch, n, s in _V2_SETTINGS:
        out_c = _make_divisible(ch * width)
        for i in range(n):
            h = b.conv2d(x, c * t, 1, act="relu6") if t != 1 else x
            h = b.conv2d(h, c * t, 3, s if i == 0 else 1, groups=c * t, act="relu6")
            h = b.conv2d(h, out_c, 1)
            x = b.add(x, h) if (s == 1 or i > 0) and c == out_c else h
            c = out_c
    x = b.conv2d(x, _make_divisible(1280 * max(1.0, width)), 1, act="relu6")
    x = b.reshape(b.avg_pool(x), (1, b.tensors[x].shape[3]))
    return b.build(b.fully_connected(x, num_classes),
                   {"arch": "mobilenet_v2", "width": width, "resolution": resolution,
                    "weights": "random"})
