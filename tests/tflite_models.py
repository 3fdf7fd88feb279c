"""Tiny int8 `.tflite` models written directly with the schema's generated code (tests only):
one TFLite op at a time, with the quantization parameters a test chooses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

from edgemobilenet.quant.tflite_schema import FILE_IDENTIFIER, Op, TType, schema

_TYPES = {np.dtype(np.int8): TType.INT8, np.dtype(np.uint8): TType.UINT8,
          np.dtype(np.int32): TType.INT32, np.dtype(np.float32): TType.FLOAT32}


@dataclass
class Model:
    tensors: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=lambda: [schema.BufferT()])
    ops: list[tuple[int, list[int], list[int], int, Any]] = field(default_factory=list)

    def tensor(self, name: str, shape, dtype=np.int8, scale=None, zp=None,
               data: np.ndarray | None = None, qdim: int = 0) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type = name, np.array(shape, np.int32), _TYPES[np.dtype(dtype)]
        if scale is not None:
            q = schema.QuantizationParametersT()
            q.scale = np.atleast_1d(np.array(scale, np.float32))
            q.zeroPoint = np.atleast_1d(np.array(zp if zp is not None else 0, np.int64))
            if len(q.zeroPoint) != len(q.scale):
                q.zeroPoint = np.zeros(len(q.scale), np.int64)
            q.quantizedDimension = qdim
            t.quantization = q
        if data is not None:
            t.buffer = len(self.buffers)
            self.buffers.append(schema.BufferT(data=np.frombuffer(
                np.ascontiguousarray(np.asarray(data, dtype)).tobytes(), np.uint8)))
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, ins: list[int], outs: list[int], opt_type: int = 0,
           opts: Any = None) -> None:
        self.ops.append((code, ins, outs, opt_type, opts))

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        codes: list[int] = []
        ops = []
        for code, ins, outs, ot, opts in self.ops:
            if code not in codes:
                codes.append(code)
            o = schema.OperatorT()
            o.opcodeIndex = codes.index(code)
            o.inputs, o.outputs = np.array(ins, np.int32), np.array(outs, np.int32)
            o.builtinOptionsType, o.builtinOptions = ot, opts
            ops.append(o)
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = self.tensors, ops
        sub.inputs, sub.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        m = schema.ModelT()
        m.version, m.subgraphs, m.buffers = 3, [sub], self.buffers
        oc = []
        for code in codes:
            c = schema.OperatorCodeT()
            c.builtinCode, c.version = code, 1
            c.deprecatedBuiltinCode = min(code, Op.PLACEHOLDER_FOR_GREATER_OP_CODES)
            oc.append(c)
        m.operatorCodes = oc
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())


def unary(code: int, shape, s_in: float, zp_in: int, s_out: float, zp_out: int,
          opt_type: int = 0, opts: Any = None, extra: list[np.ndarray] | None = None,
          out_shape=None) -> bytes:
    """x (int8) -> op(x, *constant extras) -> y (int8)."""
    m = Model()
    x = m.tensor("x", shape, np.int8, s_in, zp_in)
    ins = [x] + [m.tensor(f"c{i}", np.shape(a), np.asarray(a).dtype, data=a)
                 for i, a in enumerate(extra or [])]
    y = m.tensor("y", out_shape or shape, np.int8, s_out, zp_out)
    m.op(code, ins, [y], opt_type, opts)
    return m.build([x], [y])
