"""Reading an untrusted ONNX file: bounded size, no external data, known opsets, checked arrays.

Every failure is one EdgembError line naming the file (and the tensor or node at fault).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edgemobilenet.errors import EdgembError

MAX_FILE_BYTES = 1 << 30          # protobuf itself stops at 2 GiB
MAX_TENSOR_ELEMENTS = 1 << 26     # any one constant or activation (256 MB as float32)
# default-domain opsets: 11 (what converters still write) up to the installed onnx's newest
OPSETS = range(11, onnx.defs.onnx_opset_version() + 1)
DOMAINS = ("", "ai.onnx", "com.microsoft")  # com.microsoft: onnxruntime's QGemm, QLinearAdd, ...


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse and sanity-check an ONNX model file (no external data is ever followed)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise EdgembError(f"{path}: no such file") from None
    if size > MAX_FILE_BYTES:
        raise EdgembError(f"{path}: {size} bytes; ONNX files over {MAX_FILE_BYTES} bytes are "
                          f"not read")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning-as-error and friends
        raise EdgembError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    if not model.graph.node:
        raise EdgembError(f"{path}: not an ONNX model (no graph nodes)")
    ops = {o.domain: o.version for o in model.opset_import}
    version = ops.get("", ops.get("ai.onnx"))
    if version is None or version not in OPSETS:
        raise EdgembError(f"{path}: ONNX opset {version} is not supported (opsets "
                          f"{OPSETS.start}-{OPSETS.stop - 1})")
    for n in model.graph.node:
        if n.domain not in DOMAINS:
            raise EdgembError(f"{path}: node '{n.name or n.output[0]}' ({n.op_type}) is in "
                              f"domain '{n.domain}', which is not supported")
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise EdgembError(f"{path}: tensor '{t.name}' keeps its data in an external file; "
                              f"only self-contained models are read")
    return model


def opset(model: onnx.ModelProto) -> int:
    ops = {o.domain: o.version for o in model.opset_import}
    return int(ops.get("", ops.get("ai.onnx", 0)))


def to_array(t: onnx.TensorProto, where: str) -> np.ndarray:
    """A TensorProto as a numpy array; a size mismatch or oversize is a one-line error."""
    n = int(np.prod([int(d) for d in t.dims], dtype=np.float64)) if t.dims else 1
    if any(int(d) < 0 for d in t.dims) or n > MAX_TENSOR_ELEMENTS:
        raise EdgembError(f"{where}: tensor '{t.name}' has shape {list(t.dims)}")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise EdgembError(f"{where}: tensor '{t.name}' keeps its data in an external file")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # wrong raw_data length, unknown data type ...
        raise EdgembError(f"{where}: tensor '{t.name}' is malformed ({type(e).__name__})") \
            from None
