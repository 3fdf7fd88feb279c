"""Fully-integer int8 `.tflite` -> QGraph, exact: the QGraph on the reference executor equals
LiteRT's kernels bit for bit.

The flatbuffer is read with the schema's generated code (object API) and then checked as
untrusted data: every tensor, buffer and operator index, every buffer size and every
quantization array. Integer parameters are derived from the float32 scales the way TFLite's
kernels derive them (`tflite_schema`). Elementwise int8 ops (LOGISTIC, TANH, HARD_SWISH,
standalone RELU*) become exact 256-entry `lut` tables (`tflite_tables`). QUANTIZE at the
input (float32 or uint8 -> int8) and QUANTIZE / DEQUANTIZE at the output stay outside the
QGraph: its input and output are the int8 tensors, and `meta["tflite_io"]` says what the
file's own interface is. A SOFTMAX that ends the model also stays outside (it does not change
the order of the scores): the QGraph outputs its int8 logits. Patterns our exporter writes (PAD before a convolution, QUANTIZE
before CONCATENATION, RESHAPE + 1x1 CONV_2D + RESHAPE, CAST + ADD + GATHER, MAXIMUM +
MINIMUM clamps) fold back into the QGraph ops they came from.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.fixedpoint import quantize_multiplier, quantize_multipliers
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor, validate
from edgemobilenet.quant.tflite_export import same_padding
from edgemobilenet.quant.tflite_schema import (
    FILE_IDENTIFIER, METADATA_NAME, OP_NAMES, TYPE_NAMES, Act, Op, TType, activation_range,
    conv_multiplier, f32, mean_multiplier, schema)
from edgemobilenet.quant.tflite_tables import elementwise_table, resize_table

MAX_BYTES = 1 << 30
_NP = {TType.INT8: np.int8, TType.UINT8: np.uint8, TType.INT32: np.int32,
       TType.INT64: np.int64, TType.FLOAT32: np.float32, TType.INT16: np.int16}
_ELEMENTWISE = {Op.LOGISTIC: "sigmoid", Op.TANH: "tanh", Op.HARD_SWISH: "hardswish",
                Op.RELU: "relu", Op.RELU6: "relu6", Op.RELU_N1_TO_1: "relu_n1_to_1"}
# operators that may come without builtin options
_NO_OPTIONS = (*_ELEMENTWISE, Op.QUANTIZE, Op.SQUEEZE, Op.RESHAPE, Op.CAST)


@dataclass
class _T:
    """One TFLite tensor, checked."""

    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    scale: np.ndarray          # float32, may be empty
    zp: np.ndarray             # int64, may be empty
    qdim: int
    data: np.ndarray | None    # constant data in `shape`, or None

    @property
    def scalar_q(self) -> tuple[float, int]:
        return float(self.scale[0]), int(self.zp[0])


@dataclass
class _Op:
    index: int
    code: int
    inputs: list[int]
    outputs: list[int]
    opts: Any


@dataclass
class _Ctx:
    where: str
    tensors: list[_T]
    ops: list[_Op]
    consumers: dict[int, list[int]] = field(default_factory=dict)


def load(path: str | os.PathLike) -> QGraph:
    """Read, check and convert a `.tflite`; any problem is one EdgembError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise EdgembError(f"{path}: {size} bytes is larger than a model can be here")
        data = path.read_bytes()
    except FileNotFoundError:
        raise EdgembError(f"{path}: no such file") from None
    except OSError as e:
        raise EdgembError(f"{path}: cannot read ({e.strerror})") from None
    return from_bytes(data, str(path))


def from_bytes(data: bytes, where: str = "tflite") -> QGraph:
    return imported(data, where)[0]


def imported(data: bytes, where: str = "tflite") -> tuple[QGraph, int, int]:
    """(QGraph, TFLite index of the tensor that is its input, of the one that is its output)."""
    model = _parse(data, where)
    ctx = _check(model, where)
    try:
        imp = _Importer(ctx, _metadata(model))
        g = imp.run()
        return g, imp.in_index, imp.out_index
    except EdgembError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, ZeroDivisionError) as e:
        raise EdgembError(f"{where}: malformed model ({type(e).__name__}: {e})") from None


# -- reading and checking ------------------------------------------------------------------
def _parse(data: bytes, where: str) -> Any:
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise EdgembError(f"{where}: not a TFLite model (no TFL3 identifier)")
    try:
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception as e:  # the generated reader raises whatever a bad offset causes
        raise EdgembError(f"{where}: truncated or corrupt TFLite file ({type(e).__name__})") \
            from None
    if m.version != 3:
        raise EdgembError(f"{where}: TFLite schema version {m.version} (expected 3)")
    return m


def _arr(v: Any, dtype) -> np.ndarray:
    return np.zeros(0, dtype) if v is None else np.asarray(v).astype(dtype, copy=False)


def _check(m: Any, where: str) -> _Ctx:
    if not m.subgraphs:
        raise EdgembError(f"{where}: the model has no subgraph")
    if len(m.subgraphs) > 1:
        raise EdgembError(f"{where}: {len(m.subgraphs)} subgraphs (control flow) are not "
                          f"supported")
    sg = m.subgraphs[0]
    buffers = m.buffers or []
    codes = m.operatorCodes or []
    tensors: list[_T] = []
    names: set[str] = set()
    for i, t in enumerate(sg.tensors or []):
        at = f"{where}: tensor {i}"
        shape = tuple(int(s) for s in _arr(t.shape, np.int64))
        if any(s < 0 or s > 1 << 24 for s in shape):
            raise EdgembError(f"{at}: bad shape {shape}")
        if t.sparsity is not None:
            raise EdgembError(f"{at}: sparse tensors are not supported")
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name or "")
        if not name or name in names:
            name = f"{name or 'tensor'}#{i}"
        names.add(name)
        q = t.quantization
        scale = _arr(q.scale if q else None, np.float32)
        zp = _arr(q.zeroPoint if q else None, np.int64)
        qdim = int(q.quantizedDimension) if q else 0
        if len(scale) != len(zp) or len(scale) > 1 and not (0 <= qdim < len(shape) and
                                                             len(scale) == shape[qdim]):
            raise EdgembError(f"{at} ('{name}'): inconsistent quantization parameters")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise EdgembError(f"{at} ('{name}'): non-positive or non-finite scale")
        if not 0 <= t.buffer < max(len(buffers), 1):
            raise EdgembError(f"{at} ('{name}'): buffer index {t.buffer} out of range")
        data = None
        buf = buffers[t.buffer] if buffers else None
        if buf is not None and (buf.offset or buf.size):
            raise EdgembError(f"{at} ('{name}'): external buffers are not supported")
        if buf is not None and buf.data is not None and len(buf.data):
            if t.type not in _NP:
                raise EdgembError(f"{at} ('{name}'): constant of type "
                                  f"{TYPE_NAMES.get(t.type, t.type)} is not supported")
            dt = np.dtype(_NP[t.type])
            raw = np.asarray(buf.data, np.uint8).tobytes()
            if len(raw) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
                raise EdgembError(f"{at} ('{name}'): buffer holds {len(raw)} bytes, shape "
                                  f"{shape} needs {int(np.prod(shape)) * dt.itemsize}")
            data = np.frombuffer(raw, dt.newbyteorder("<")).astype(dt).reshape(shape)
        tensors.append(_T(i, name, shape, int(t.type), scale, zp, qdim, data))
    n = len(tensors)
    ops = []
    for i, o in enumerate(sg.operators or []):
        if not 0 <= o.opcodeIndex < len(codes):
            raise EdgembError(f"{where}: operator {i}: opcode index {o.opcodeIndex} out of range")
        c = codes[o.opcodeIndex]
        code = max(int(c.builtinCode), int(c.deprecatedBuiltinCode))
        if code == Op.CUSTOM:
            cc = c.customCode.decode() if isinstance(c.customCode, bytes) else c.customCode
            raise EdgembError(f"{where}: operator {i}: custom op '{cc}' is not supported")
        ins = [int(v) for v in _arr(o.inputs, np.int64)]
        outs = [int(v) for v in _arr(o.outputs, np.int64)]
        if any(not -1 <= v < n for v in ins) or any(not 0 <= v < n for v in outs):
            raise EdgembError(f"{where}: operator {i} ({OP_NAMES.get(code, code)}): tensor "
                              f"index out of range")
        ops.append(_Op(i, code, ins, outs, o.builtinOptions))
    ctx = _Ctx(where, tensors, ops)
    for o in ops:
        for t in o.inputs:
            ctx.consumers.setdefault(t, []).append(o.index)
    ctx.inputs = [int(v) for v in _arr(sg.inputs, np.int64)]
    ctx.outputs = [int(v) for v in _arr(sg.outputs, np.int64)]
    if any(not 0 <= v < n for v in ctx.inputs + ctx.outputs):
        raise EdgembError(f"{where}: graph input/output index out of range")
    return ctx


def _metadata(m: Any) -> dict[str, Any]:
    """Our exporter's names and meta, if present and well-formed (names only)."""
    for md in m.metadata or []:
        name = md.name.decode() if isinstance(md.name, bytes) else md.name
        if name == METADATA_NAME and 0 <= md.buffer < len(m.buffers or []):
            try:
                doc = json.loads(np.asarray(m.buffers[md.buffer].data, np.uint8).tobytes())
                if isinstance(doc.get("nodes"), list) and isinstance(doc.get("meta"), dict):
                    return doc
            except (ValueError, TypeError, AttributeError):
                return {}
    return {}


# -- conversion ------------------------------------------------------------------------------
class _Importer:
    def __init__(self, ctx: _Ctx, info: dict[str, Any]):
        self.c = ctx
        self.info = info
        self.tensors: dict[str, QTensor] = {}
        self.nodes: list[QNode] = []
        self.alias: dict[int, int] = {}   # TFLite tensor -> the tensor that stands for it
        self.done: set[int] = set()       # operators folded into another one
        self.io: dict[str, Any] = {}
        self.producer = {t: o for o in ctx.ops for t in o.outputs}
        self.lut_fns: dict[str, str] = dict(info.get("fns") or {})

    # helpers
    def err(self, op: _Op, msg: str) -> EdgembError:
        return EdgembError(f"{self.c.where}: operator {op.index} "
                           f"({OP_NAMES.get(op.code, op.code)}): {msg}")

    def t(self, i: int) -> _T:
        return self.c.tensors[self.alias.get(i, i)]

    def only_consumer(self, t: int) -> _Op | None:
        users = self.c.consumers.get(t, [])
        if len(users) != 1 or t in self.c.outputs:
            return None
        return self.c.ops[users[0]]

    def act_tensor(self, op: _Op, i: int) -> QTensor:
        """The QGraph int8 activation tensor for TFLite tensor i (declared on first use)."""
        t = self.t(i)
        if t.type != TType.INT8 or len(t.scale) != 1:
            raise self.err(op, f"tensor '{t.name}' is {TYPE_NAMES.get(t.type, t.type)} with "
                               f"{len(t.scale)} scales; only per-tensor int8 activations are "
                               f"supported")
        if t.data is not None:
            raise self.err(op, f"constant activation tensor '{t.name}' is not supported")
        if t.name not in self.tensors:
            s, zp = t.scalar_q
            shape = t.shape if t.shape else (1,)
            self.tensors[t.name] = QTensor(t.name, shape, "int8", float(s), int(zp))
        return self.tensors[t.name]

    def const(self, op: _Op, i: int, ttype: int, what: str) -> _T:
        t = self.t(i) if i >= 0 else None
        if t is None or t.data is None or t.type != ttype:
            raise self.err(op, f"{what} must be a constant {TYPE_NAMES[ttype]} tensor")
        return t

    def emit(self, op: _Op, kind: str, ins: list[int], out: int, attrs: dict[str, Any],
             params: dict[str, np.ndarray] | None = None) -> QNode:
        in_t = [self.act_tensor(op, i).name for i in ins]
        y = self.act_tensor(op, out)
        node = QNode(y.name, kind, in_t, [y.name], attrs, params or {})
        self.nodes.append(node)
        return node

    def act_attrs(self, op: _Op, out: int, act: int) -> dict[str, int]:
        s, zp = self.t(out).scalar_q
        try:
            lo, hi = activation_range(act, s, zp)
        except ValueError as e:
            raise self.err(op, str(e)) from None
        return {"act_min": lo, "act_max": hi}

    def fold_clamp(self, out: int) -> tuple[int, int | None, int | None]:
        """MAXIMUM(const) then MINIMUM(const) on `out` (our exporter's clamp): fold them."""
        nxt = self.only_consumer(out)
        if nxt is None or nxt.code != Op.MAXIMUM:
            return out, None, None
        nxt2 = self.only_consumer(nxt.outputs[0])
        if nxt2 is None or nxt2.code != Op.MINIMUM:
            return out, None, None
        lo_t, hi_t = self.t(nxt.inputs[1]), self.t(nxt2.inputs[1])
        same = all(self.t(x).scalar_q == self.t(out).scalar_q if len(self.t(x).scale) == 1
                   else False for x in (nxt.outputs[0], nxt2.outputs[0], nxt.inputs[1],
                                        nxt2.inputs[1]))
        if lo_t.data is None or hi_t.data is None or lo_t.data.size != 1 or \
                hi_t.data.size != 1 or not same or lo_t.type != TType.INT8:
            return out, None, None
        self.done.update({nxt.index, nxt2.index})
        return nxt2.outputs[0], int(lo_t.data.ravel()[0]), int(hi_t.data.ravel()[0])

    def finish_act(self, op: _Op, act: int) -> tuple[int, dict[str, int]]:
        """(final output tensor, act_min/act_max attrs), folding an exporter clamp."""
        out, lo, hi = self.fold_clamp(op.outputs[0])
        attrs = self.act_attrs(op, op.outputs[0], act)
        if lo is not None:
            attrs = {"act_min": max(attrs["act_min"], lo), "act_max": min(attrs["act_max"], hi)}
        return out, attrs

    # ops
    def conv(self, op: _Op, depthwise: bool) -> None:
        x_i, w_i, b_i = (op.inputs + [-1, -1])[:3]
        o = op.opts
        w = self.const(op, w_i, TType.INT8, "the filter")
        if w.data.ndim != 4:
            raise self.err(op, f"filter has shape {w.shape}")
        x_i, pad = self.fold_pad(op, x_i)
        x = self.t(x_i)
        if len(x.shape) != 4:
            raise self.err(op, f"input has shape {x.shape}, expected NHWC")
        c = x.shape[3]
        if depthwise:
            kh, kw, oc = w.shape[1:]
            mult = oc // c if c else 0
            if w.shape[0] != 1 or mult < 1 or mult * c != oc:
                raise self.err(op, f"filter {w.shape} does not fit {c} input channels")
            weight = np.ascontiguousarray(w.data.transpose(3, 1, 2, 0))
            groups = c
        else:
            oc, kh, kw, cg = w.shape
            if cg < 1 or c % cg:
                raise self.err(op, f"filter {w.shape} does not fit {c} input channels")
            weight, groups = w.data, c // cg
            if groups > 1 and oc % groups:
                raise self.err(op, f"{oc} filters do not divide into {groups} groups")
        stride = [int(o.strideH), int(o.strideW)]
        dil = [int(o.dilationHFactor), int(o.dilationWFactor)]
        if min(stride + dil) < 1:
            raise self.err(op, f"stride {stride} / dilation {dil} must be >= 1")
        if pad is None:
            pad = self.padding(o.padding, x.shape[1:3], (kh, kw), stride, dil)
        params = self.weighted(op, x, w, b_i, oc, depthwise)
        params["weight"] = weight
        out, act = self.finish_act(op, o.fusedActivationFunction)
        self.emit_weighted(op, "conv2d", x_i, out, {
            "stride": stride, "padding": pad, "dilation": dil, "groups": int(groups), **act},
            params)

    def emit_weighted(self, op: _Op, kind: str, x_i: int, out: int, attrs: dict[str, Any],
                      params: dict[str, np.ndarray]) -> None:
        y = self.act_tensor(op, out)
        s_in = self.t(x_i).scalar_q[0]
        pairs = [conv_multiplier(s_in, float(s), y.scale) for s in params["w_scale"]]
        m = np.array([p[0] for p in pairs], np.int32)
        sh = np.array([p[1] for p in pairs], np.int32)
        params.update(multiplier=m, shift=sh)
        node = self.emit(op, kind, [x_i], out, attrs, params)
        if kind == "conv2d" and self.tensors[node.outputs[0]].shape[-1] != len(m):
            raise self.err(op, "output channels do not match the filter")

    def weighted(self, op: _Op, x: _T, w: _T, b_i: int, oc: int, depthwise: bool
                 ) -> dict[str, np.ndarray]:
        if len(w.scale) not in (1, oc) or np.any(w.zp != 0):
            raise self.err(op, "filter must be symmetric int8 (zero point 0), per tensor or "
                               "per output channel")
        if len(w.scale) == oc and oc > 1 and w.qdim != (3 if depthwise else 0):
            raise self.err(op, f"filter quantized along dimension {w.qdim}")
        ws = np.broadcast_to(w.scale, (oc,)).astype(np.float32)
        if b_i >= 0:
            b = self.const(op, b_i, TType.INT32, "the bias")
            if b.data.shape != (oc,):
                raise self.err(op, f"bias has shape {b.shape}, expected ({oc},)")
            bias = b.data.astype(np.int32)
        else:
            bias = np.zeros(oc, np.int32)
        return {"bias": bias, "w_scale": ws}

    def padding(self, mode: int, hw: tuple[int, ...], k: tuple[int, int], s: list[int],
                d: list[int]) -> list[int]:
        if mode == schema.Padding.VALID:
            return [0, 0, 0, 0]
        _, t, b = same_padding(hw[0], k[0], s[0], d[0])
        _, l, r = same_padding(hw[1], k[1], s[1], d[1])
        return [t, l, b, r]

    def pad_amounts(self, pad: _Op) -> list[int] | None:
        """[t, l, b, r] of a PAD / PADV2 that a following VALID convolution can take over:
        H and W only, filled with the zero point, read by that convolution alone."""
        nxt = self.only_consumer(pad.outputs[0])
        if nxt is None or nxt.code not in (Op.CONV_2D, Op.DEPTHWISE_CONV_2D) or \
                nxt.inputs[0] != pad.outputs[0] or nxt.opts is None or \
                nxt.opts.padding != schema.Padding.VALID or len(pad.inputs) < 2:
            return None
        x, y = self.t(pad.inputs[0]), self.t(pad.outputs[0])
        p = self.t(pad.inputs[1]).data
        if p is None or p.shape != (4, 2) or p[0].any() or p[3].any() or (p < 0).any() or \
                len(x.scale) != 1 or len(y.scale) != 1 or x.scalar_q != y.scalar_q:
            return None
        if len(pad.inputs) > 2 and pad.inputs[2] >= 0:
            v = self.t(pad.inputs[2]).data
            if v is None or v.size != 1 or int(v.ravel()[0]) != x.scalar_q[1]:
                return None
        return [int(p[1, 0]), int(p[2, 0]), int(p[1, 1]), int(p[2, 1])]

    def fold_pad(self, op: _Op, x_i: int) -> tuple[int, list[int] | None]:
        prod = self.producer.get(x_i)
        if prod is None or prod.code not in (Op.PAD, Op.PADV2):
            return x_i, None
        pads = self.pad_amounts(prod)
        return (x_i, None) if pads is None else (prod.inputs[0], pads)

    def fully_connected(self, op: _Op) -> None:
        x_i, w_i, b_i = (op.inputs + [-1, -1])[:3]
        w = self.const(op, w_i, TType.INT8, "the weights")
        if w.data.ndim != 2:
            raise self.err(op, f"weights have shape {w.shape}")
        oc, c = w.shape
        if op.opts.keepNumDims:
            raise self.err(op, "keep_num_dims is not supported")
        x = self.t(x_i)
        if int(np.prod(x.shape)) != c:
            raise self.err(op, f"input {x.shape} does not flatten to {c} values (batch 1)")
        if x.shape != (1, c):
            x_i = self.flatten(op, x_i, c)
        params = self.weighted(op, self.t(x_i), w, b_i, oc, False)
        params["weight"] = w.data
        out, act = self.finish_act(op, op.opts.fusedActivationFunction)
        # LiteRT's int8 FULLY_CONNECTED rounds once (OPS.md), per-tensor or per-channel
        self.emit_weighted(op, "fully_connected_single_round", x_i, out, act, params)

    def flatten(self, op: _Op, x_i: int, c: int) -> int:
        """A reshape to (1, C) before a FULLY_CONNECTED (a new TFLite-side tensor)."""
        x = self.t(x_i)
        idx = len(self.c.tensors)
        self.c.tensors.append(_T(idx, f"{x.name}::flat", (1, c), TType.INT8, x.scale, x.zp, 0,
                                 None))
        self.emit(op, "reshape", [x_i], idx, {"shape": [1, c]})
        return idx

    def add(self, op: _Op) -> None:
        a, b = (self.t(i) for i in op.inputs[:2])
        if a.shape != b.shape:
            raise self.err(op, f"broadcasting ADD ({a.shape} + {b.shape}) is not supported")
        (sa, _), (sb, _), (sy, _) = a.scalar_q, b.scalar_q, self.t(op.outputs[0]).scalar_q
        twice = 2.0 * max(sa, sb)
        m, sh = quantize_multipliers(np.array([sa / twice, sb / twice, twice / ((1 << 20) * sy)]))
        out, act = self.finish_act(op, op.opts.fusedActivationFunction)
        self.emit(op, "add", op.inputs[:2], out, {"left_shift": 20, **act},
                  {"multiplier": m, "shift": sh})

    def mul(self, op: _Op) -> None:
        ins = list(op.inputs[:2])
        a, b = (self.t(i) for i in ins)
        if a.shape != tuple(np.broadcast_shapes(a.shape, b.shape)):
            ins.reverse()
            a, b = b, a
        if a.shape != tuple(np.broadcast_shapes(a.shape, b.shape)) or len(b.shape) != \
                len(a.shape):
            raise self.err(op, f"MUL of shapes {a.shape} and {b.shape} is not supported")
        m, sh = quantize_multiplier(a.scalar_q[0] * b.scalar_q[0] / self.t(op.outputs[0]).scalar_q[0])
        out, act = self.finish_act(op, op.opts.fusedActivationFunction)
        self.emit(op, "mul", ins, out, act, {"multiplier": np.array([m], np.int32),
                                             "shift": np.array([sh], np.int32)})

    def pool(self, op: _Op, kind: str) -> None:
        """AVERAGE_POOL_2D / MAX_POOL_2D as `kind` (avg_pool / max_pool): same options."""
        o = op.opts
        x = self.t(op.inputs[0])
        if x.scalar_q != self.t(op.outputs[0]).scalar_q:
            raise self.err(op, "input and output quantization differ")
        k = [int(o.filterHeight), int(o.filterWidth)]
        s = [int(o.strideH), int(o.strideW)]
        if min(k + s) < 1:
            raise self.err(op, f"filter {k} / stride {s} must be >= 1")
        pad = self.padding(o.padding, x.shape[1:3], k, s, [1, 1])
        out, act = self.finish_act(op, o.fusedActivationFunction)
        self.emit(op, kind, [op.inputs[0]], out, {"kernel": k, "stride": s, "padding": pad, **act})

    def mean(self, op: _Op) -> None:
        """MEAN over H and W as LiteRT's reference kernel computes it (and its generic
        kernel, which runs keep_dims=False): exactly a depthwise convolution with all-one
        weights, MBQM(sum(x - zp_x), m, shift) + zp_y, with 1/(H*W) folded into m. (The
        optimized keep_dims kernel rounds blocks of 16 channels half up: within 1 LSB.)"""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        axes = self.const(op, op.inputs[1], TType.INT32, "the axes").data.ravel().tolist()
        if len(x.shape) != 4 or sorted(a % 4 for a in axes) != [1, 2]:
            raise self.err(op, f"MEAN over axes {axes} of {x.shape}: only H and W (1, 2)")
        _, h, w, c = x.shape
        (sx, _), (sy, _) = x.scalar_q, y.scalar_q
        if y.shape not in ((1, 1, 1, c), (1, c)):
            raise self.err(op, f"output shape {y.shape} for input {x.shape}")
        m, sh = mean_multiplier(sx, sy, h * w)
        idx = op.outputs[0]
        if y.shape == (1, c):
            idx = len(self.c.tensors)
            self.c.tensors.append(_T(idx, f"{y.name}::4d", (1, 1, 1, c), TType.INT8, y.scale,
                                     y.zp, 0, None))
        params = {"weight": np.ones((c, h, w, 1), np.int8), "bias": np.zeros(c, np.int32),
                  "multiplier": np.full(c, m, np.int32), "shift": np.full(c, sh, np.int32),
                  "w_scale": np.full(c, m * 2.0 ** (sh - 31) * sy / sx, np.float32)}
        self.emit(op, "conv2d", [op.inputs[0]], idx, {
            "stride": [1, 1], "padding": [0, 0, 0, 0], "dilation": [1, 1], "groups": c,
            "act_min": -128, "act_max": 127}, params)
        if idx != op.outputs[0]:
            self.emit(op, "reshape", [idx], op.outputs[0], {"shape": [1, c]})

    def pad(self, op: _Op) -> None:
        """A PAD no convolution takes over: a 1x1 depthwise identity convolution with that
        padding (padded positions hold the zero point, MBQM by 1.0 is exact)."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        p = self.const(op, op.inputs[1], TType.INT32, "the paddings").data
        if len(x.shape) != 4 or p.shape != (4, 2) or p[0].any() or p[3].any() or \
                (p < 0).any() or x.scalar_q != y.scalar_q:
            raise self.err(op, "only zero-point padding of H and W is supported")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            v = self.t(op.inputs[2]).data
            if v is None or v.size != 1 or int(v.ravel()[0]) != x.scalar_q[1]:
                raise self.err(op, "padding with a value other than the zero point")
        c = x.shape[3]
        m, sh = quantize_multiplier(1.0)
        self.emit(op, "conv2d", [op.inputs[0]], op.outputs[0], {
            "stride": [1, 1], "padding": [int(p[1, 0]), int(p[2, 0]), int(p[1, 1]), int(p[2, 1])],
            "dilation": [1, 1], "groups": c, "act_min": -128, "act_max": 127}, {
            "weight": np.ones((c, 1, 1, 1), np.int8), "bias": np.zeros(c, np.int32),
            "multiplier": np.full(c, m, np.int32), "shift": np.full(c, sh, np.int32),
            "w_scale": np.ones(c, np.float32)})

    def resize(self, op: _Op, mode: str) -> None:
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.scalar_q != y.scalar_q:
            raise self.err(op, "input and output quantization differ")
        if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[3] != y.shape[3] or \
                min(x.shape[1:3] + y.shape[1:3]) < 1:
            raise self.err(op, f"cannot resize {x.shape} to {y.shape}")
        align, half = int(bool(op.opts.alignCorners)), int(bool(op.opts.halfPixelCenters))
        (_, h, w, _), (_, oh, ow, _) = x.shape, y.shape
        self.emit(op, "resize_table", [op.inputs[0]], op.outputs[0],
                  {"mode": mode, "align_corners": align, "half_pixel": half},
                  {"rows": resize_table(mode, oh, h, bool(align), bool(half)),
                   "cols": resize_table(mode, ow, w, bool(align), bool(half))})

    def reshape(self, op: _Op) -> None:
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.scalar_q != y.scalar_q:
            raise self.err(op, "input and output quantization differ")
        if int(np.prod(x.shape)) != int(np.prod(y.shape)):
            raise self.err(op, f"cannot reshape {x.shape} to {y.shape}")
        if self.fold_fc_pattern(op):
            return
        self.emit(op, "reshape", [op.inputs[0]], op.outputs[0], {"shape": list(y.shape)})

    def fold_fc_pattern(self, op: _Op) -> bool:
        """RESHAPE (1,C)->(1,1,1,C), 1x1 CONV_2D, RESHAPE -> (1,OC): a per-channel FC."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        conv = self.only_consumer(op.outputs[0])
        if len(x.shape) != 2 or y.shape != (1, 1, 1, x.shape[1]) or conv is None or \
                conv.code != Op.CONV_2D or conv.inputs[0] != op.outputs[0]:
            return False
        back = self.only_consumer(conv.outputs[0])
        w = self.t(conv.inputs[1])
        if back is None or back.code != Op.RESHAPE or w.data is None or \
                w.shape[1:3] != (1, 1) or self.t(back.outputs[0]).shape != (1, w.shape[0]):
            return False
        if conv.opts.strideH != 1 or conv.opts.strideW != 1:
            return False
        params = self.weighted(conv, x, w, (conv.inputs + [-1, -1])[2], w.shape[0], False)
        params["weight"] = np.ascontiguousarray(w.data.reshape(w.shape[0], -1))
        fake = _Op(conv.index, conv.code, conv.inputs, back.outputs, conv.opts)
        out, act = self.finish_act(fake, conv.opts.fusedActivationFunction)
        self.done.update({conv.index, back.index})
        self.emit_weighted(conv, "fully_connected", op.inputs[0], out, act, params)
        return True

    def concat(self, op: _Op) -> None:
        y = self.t(op.outputs[0])
        rank = len(y.shape)
        axis = int(op.opts.axis)
        axis = axis + rank if axis < 0 else axis
        if not 0 < axis < rank or op.opts.fusedActivationFunction != Act.NONE:
            raise self.err(op, f"axis {op.opts.axis} / fused activation not supported")
        ins, requant, m, sh = [], [], [], []
        for i in op.inputs:
            src = i
            prod = self.producer.get(i)
            if prod is not None and prod.code == Op.QUANTIZE and self.requant_feeds_concat(prod):
                src = prod.inputs[0]
            elif self.t(i).scalar_q != y.scalar_q:
                raise self.err(op, "inputs with other quantization than the output")
            s_x, zp_x = self.t(src).scalar_q
            mm, ss = quantize_multiplier(s_x / y.scalar_q[0])
            ins.append(src)
            requant.append(int(src != i))
            m.append(mm)
            sh.append(ss)
        self.emit(op, "concat", ins, op.outputs[0], {"axis": axis, "requant": requant},
                  {"multiplier": np.array(m, np.int32), "shift": np.array(sh, np.int32)})

    def requantize(self, op: _Op) -> None:
        """QUANTIZE int8 -> int8 inside the graph: a one-input requantizing concat."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        m, sh = quantize_multiplier(x.scalar_q[0] / y.scalar_q[0])
        self.emit(op, "concat", [op.inputs[0]], op.outputs[0],
                  {"axis": len(y.shape) - 1, "requant": [1]},
                  {"multiplier": np.array([m], np.int32), "shift": np.array([sh], np.int32)})

    def elementwise(self, op: _Op, fn: str) -> None:
        (sx, zx), (sy, zy) = self.t(op.inputs[0]).scalar_q, self.t(op.outputs[0]).scalar_q
        table = elementwise_table(fn, sx, zx, sy, zy)
        self.emit(op, "lut", [op.inputs[0]], op.outputs[0], {"fn": fn}, {"table": table})

    def gather_lut(self, op: _Op) -> None:
        """CAST int8->int32, ADD 128, GATHER(table): our exporter's exact table."""
        add = self.only_consumer(op.outputs[0])
        gather = self.only_consumer(add.outputs[0]) if add is not None else None
        if add is None or add.code != Op.ADD or gather is None or gather.code != Op.GATHER or \
                gather.inputs[1] != add.outputs[0]:
            raise self.err(op, "CAST outside a table lookup (CAST, ADD 128, GATHER)")
        k = self.t(add.inputs[1]).data
        table = self.t(gather.inputs[0])
        if k is None or k.size != 1 or int(k.ravel()[0]) != 128 or table.data is None or \
                table.shape != (256,) or table.type != TType.INT8 or \
                table.scalar_q != self.t(gather.outputs[0]).scalar_q:
            raise self.err(op, "CAST outside a table lookup (CAST, ADD 128, GATHER)")
        self.done.update({add.index, gather.index})
        fn = self.lut_fns.get(self.t(gather.outputs[0]).name, "table")
        self.emit(op, "lut", [op.inputs[0]], gather.outputs[0], {"fn": fn},
                  {"table": table.data.astype(np.int8)})

    # the whole graph
    def boundary(self) -> tuple[int, int]:
        """The int8 graph input and output, past QUANTIZE / DEQUANTIZE at the edges."""
        c = self.c
        if len(c.inputs) != 1 or len(c.outputs) != 1:
            raise EdgembError(f"{c.where}: {len(c.inputs)} inputs and {len(c.outputs)} "
                              f"outputs; one of each is supported")
        x, y = c.inputs[0], c.outputs[0]
        self.io = {"input_dtype": "int8", "output_dtype": "int8"}
        xt = c.tensors[x]
        if xt.type != TType.INT8:
            q = self.only_consumer(x)
            if q is None or q.code != Op.QUANTIZE or c.tensors[q.outputs[0]].type != TType.INT8:
                raise EdgembError(f"{c.where}: the input is {TYPE_NAMES.get(xt.type)} and not "
                                  f"quantized to int8 by one QUANTIZE")
            self.done.add(q.index)
            self.io["input_dtype"] = TYPE_NAMES[xt.type].lower()
            if len(xt.scale) == 1:
                self.io["input_scale"], self.io["input_zero_point"] = f32(xt.scale[0]), \
                    int(xt.zp[0])
            x = q.outputs[0]
        yt = c.tensors[y]
        if yt.type != TType.INT8:
            p = self.producer.get(y)
            if p is None or p.code not in (Op.DEQUANTIZE, Op.QUANTIZE) or \
                    c.tensors[p.inputs[0]].type != TType.INT8:
                raise EdgembError(f"{c.where}: the output is {TYPE_NAMES.get(yt.type)} and not "
                                  f"made from int8 by one DEQUANTIZE / QUANTIZE")
            self.done.add(p.index)
            self.io["output_dtype"] = TYPE_NAMES[yt.type].lower()
            if len(yt.scale) == 1:
                self.io["output_scale"], self.io["output_zero_point"] = f32(yt.scale[0]), \
                    int(yt.zp[0])
            y = p.inputs[0]
        p = self.producer.get(y)
        if p is not None and p.code == Op.SOFTMAX and self.only_consumer(p.inputs[0]) is p:
            # a final SOFTMAX keeps the order of the scores: the QGraph ends at its logits
            self.done.add(p.index)
            self.io["output_softmax"] = float(p.opts.beta) if p.opts is not None else 1.0
            y = p.inputs[0]
        return x, y

    def run(self) -> QGraph:
        c = self.c
        x, y = self.boundary()
        self.in_index, self.out_index = x, y
        names = self.info.get("nodes") or []
        gin = self.act_tensor(_Op(-1, Op.QUANTIZE, [], [], None), x)
        table = {Op.CONV_2D: lambda o: self.conv(o, False),
                 Op.DEPTHWISE_CONV_2D: lambda o: self.conv(o, True),
                 Op.FULLY_CONNECTED: self.fully_connected, Op.ADD: self.add, Op.MUL: self.mul,
                 Op.AVERAGE_POOL_2D: lambda o: self.pool(o, "avg_pool"),
                 Op.MAX_POOL_2D: lambda o: self.pool(o, "max_pool"),
                 Op.MEAN: self.mean, Op.RESHAPE: self.reshape, Op.PAD: self.pad,
                 Op.PADV2: self.pad,
                 Op.RESIZE_BILINEAR: lambda o: self.resize(o, "bilinear"),
                 Op.RESIZE_NEAREST_NEIGHBOR: lambda o: self.resize(o, "nearest"),
                 Op.SQUEEZE: self.reshape, Op.CONCATENATION: self.concat,
                 Op.QUANTIZE: self.requantize, Op.CAST: self.gather_lut,
                 **{k: (lambda o, fn=fn: self.elementwise(o, fn)) for k, fn in
                    _ELEMENTWISE.items()}}
        for op in c.ops:
            if op.index in self.done:
                continue
            if op.code in (Op.PAD, Op.PADV2) and self.pad_amounts(op) is not None:
                continue  # the convolution after it takes the padding over
            if op.code == Op.QUANTIZE and self.requant_feeds_concat(op):
                continue  # the concatenation after it requantizes that input
            impl = table.get(op.code)
            if impl is None:
                raise EdgembError(f"{c.where}: operator {op.index}: "
                                  f"{OP_NAMES.get(op.code, op.code)} is not supported")
            if op.opts is None and op.code not in _NO_OPTIONS:
                raise self.err(op, "missing builtin options")
            impl(op)
        yname = self.t(y).name
        if yname not in self.tensors:
            raise EdgembError(f"{c.where}: the output tensor is never computed")
        meta = dict(self.info.get("meta") or {})
        if "meta" not in self.info:  # not written by our exporter
            _, h, w, ch = gin.shape if len(gin.shape) == 4 else (1, 0, 0, gin.shape[-1])
            meta = {"arch": "tflite", "method": "tflite (the file's own quantization)",
                    "input_layout": "NHWC",
                    "options": {"resolution": h, "in_channels": ch,
                                "num_classes": self.tensors[yname].shape[-1]}}
        if self.io != {"input_dtype": "int8", "output_dtype": "int8"}:
            meta["tflite_io"] = self.io
        if len(names) == len(self.nodes) and all(isinstance(n, str) for n in names):
            for node, name in zip(self.nodes, names):
                node.name = name
        g = QGraph(self.tensors, self.nodes, [gin.name], [yname], meta)
        validate(g, c.where)
        return g

    def requant_feeds_concat(self, op: _Op) -> bool:
        nxt = self.only_consumer(op.outputs[0])
        return nxt is not None and nxt.code == Op.CONCATENATION and \
            self.t(op.inputs[0]).type == TType.INT8
