"""An imported quantized ONNX file run by its own runtime (onnxruntime), read in QGraph terms.

`OnnxPeer` runs the original file and returns its quantized tensors as the QGraph sees them
(int8, NHWC; uint8 shifted by -128), using the links `capture_onnx` recorded. `per_node`
feeds every QGraph node onnxruntime's own inputs and compares the node's output with
onnxruntime's: the per-node agreement of the two integer implementations.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import reference
from edgemobilenet.quant.capture_onnx_quant import QuantInfo
from edgemobilenet.quant.floatgraph import INPUT, FloatGraph
from edgemobilenet.quant.onnx_file import load_onnx
from edgemobilenet.quant.qgraph import QGraph


def _session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


@dataclass
class NodeAgreement:
    """Per-node comparison: elements compared, exactly equal, max |difference| in LSB."""

    nodes: int
    elements: int
    exact: int
    max_lsb: int
    worst: str
    per_op: dict[str, list[int]]   # op -> [elements, exact, max_lsb]

    @property
    def exact_fraction(self) -> float:
        return self.exact / max(self.elements, 1)


class OnnxPeer:
    """onnxruntime running the original file, its quantized tensors exposed as outputs
    (a `runtime_compare.FileRuntime`)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, q: QGraph, g: FloatGraph, info: QuantInfo,
                 all_tensors: bool = False, threads: int = 1):
        model = load_onnx(path)
        self.q, self.g, self.info = q, g, info
        wanted = [t for t in (q.tensors if all_tensors else [q.inputs[0], *q.outputs])
                  if t in info.links]
        if q.outputs[0] not in info.links:
            raise EdgembError(f"{path}: the output '{q.outputs[0]}' is not quantized in the "
                              f"file, so onnxruntime's integer output cannot be compared")
        self.names = {t: info.links[t][0] for t in wanted}
        have = {o.name for o in model.graph.output}
        for name in dict.fromkeys(self.names.values()):
            if name not in have:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
        self.sess = _session(model, threads)
        self.input = info.input_name

    def feed(self, x_nchw: np.ndarray) -> np.ndarray:
        """Float NCHW images -> the file's input layout."""
        x = np.asarray(x_nchw, np.float32)
        return x.transpose(0, 2, 3, 1) if self.info.input_layout == "NHWC" else x

    def run(self, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
        """One image (1, C, H, W): the linked tensors, int8 in QGraph layout (NHWC)."""
        names = list(dict.fromkeys(self.names.values()))
        got = dict(zip(names, self.sess.run(names, {self.input: self.feed(x_nchw)})))
        out = {t: self._to_qgraph(t, got[name]) for t, name in self.names.items()}
        if INPUT not in out:    # quantized after a Pad: QuantizeLinear's own arithmetic
            t = self.q.tensors[self.q.inputs[0]]
            x = np.asarray(x_nchw, np.float32).transpose(0, 2, 3, 1)
            out[INPUT] = np.clip(np.rint(x / np.float32(t.scale)) + t.zero_point, -128,
                                 127).astype(np.int8)
        return out

    def quantized_io(self, x_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The file's own int8 input and output for one image, in QGraph layout."""
        env = self.run(x_nchw)
        return env[self.q.inputs[0]], env[self.q.outputs[0]]

    def _to_qgraph(self, t: str, arr: np.ndarray) -> np.ndarray:
        _, view, unsigned = self.info.links[t]
        fg_shape = self.g.shapes[t]
        flat = np.empty(int(np.prod(fg_shape)), np.int16)
        flat[view.flat()] = arr.astype(np.int16).ravel()
        if unsigned:
            flat -= 128
        y = flat.astype(np.int8).reshape(fg_shape)
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1)) if y.ndim == 4 else y

    def per_node(self, images: np.ndarray, agg: NodeAgreement | None = None) -> NodeAgreement:
        """Each QGraph node on onnxruntime's inputs against onnxruntime's output."""
        agg = agg or NodeAgreement(0, 0, 0, 0, "", {})
        for x in images:
            env = self.run(x[None])
            for n in self.q.nodes:
                y = reference.run_node(self.q, n, [env[t] for t in n.inputs])
                want = env.get(n.outputs[0])
                if want is None:            # a node of our own (e.g. a gate's reshape)
                    env[n.outputs[0]] = y
                    continue
                d = np.abs(y.astype(np.int32) - want.astype(np.int32))
                stats = agg.per_op.setdefault(n.op, [0, 0, 0])
                stats[0] += d.size
                stats[1] += int((d == 0).sum())
                stats[2] = max(stats[2], int(d.max()))
                agg.nodes += 1
                agg.elements += d.size
                agg.exact += int((d == 0).sum())
                if int(d.max()) > agg.max_lsb or not agg.worst:
                    agg.max_lsb, agg.worst = max(agg.max_lsb, int(d.max())), f"{n.name} ({n.op})"
        return agg
