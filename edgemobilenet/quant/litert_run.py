"""Run a `.tflite` in LiteRT's Python interpreter (PyPI `ai-edge-litert`) with chosen kernels.

`kernels`: "builtin" = TFLite's optimized builtin kernels without the default XNNPACK
delegate (the integer kernels QGraph semantics are checked against), "ref" = the reference
kernels, "xnnpack" = LiteRT's default (XNNPACK delegate applied; it requantizes QS8 in float).
"""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

KERNELS = {"builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
           "ref": OpResolverType.BUILTIN_REF, "xnnpack": OpResolverType.AUTO}


def interpreter(model: bytes, kernels: str = "builtin", *, keep_all: bool = False,
                threads: int = 1) -> Interpreter:
    """An allocated interpreter for the flatbuffer `model`."""
    it = Interpreter(model_content=model, num_threads=threads,
                     experimental_op_resolver_type=KERNELS[kernels],
                     experimental_preserve_all_tensors=keep_all)
    it.allocate_tensors()
    return it


def run(it: Interpreter, x: np.ndarray) -> np.ndarray:
    """One inference of a single-input, single-output model."""
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def tensors_by_name(it: Interpreter) -> dict[str, np.ndarray]:
    """Every tensor with data after an invoke (needs keep_all=True), by tensor name."""
    out = {}
    for d in it.get_tensor_details():
        try:
            out[d["name"]] = it.get_tensor(d["index"]).copy()
        except ValueError:  # a tensor without data (freed or never allocated)
            continue
    return out


def uses_delegate(it: Interpreter) -> bool:
    """True when a delegate (XNNPACK) took over some of the graph."""
    return any(op["op_name"] == "DELEGATE" for op in it._get_ops_details())
