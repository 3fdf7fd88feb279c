"""TVM kernels for QGraph layers: lower, schedule, build, and describe the C call.

`TvmCall` is what the MCU code generator needs for a layer it hands to TVM: the symbol,
its prototype, and one argument per parameter (an arena tensor or a constant array the
generated model stores). It implements `codegen`'s external-call interface.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import tvm
from tvm.target import Target

from edgemobilenet.backends.tvm.mcu import harness, schedule, tir_ops, unpacked_api
from edgemobilenet.quant.qgraph import QGraph, QNode

_CTYPE = {"int8": "int8_t", "int32": "int32_t", "int64": "int64_t"}


@dataclass
class TvmCall:
    """A call from `model.c` to a TVM-generated kernel."""

    symbol: str
    spec: harness.KernelSpec
    args: list[tir_ops.Arg]

    def c_prototype(self) -> str:
        return harness.prototype(self.spec)

    def c_body(self, prefix: str, const: Callable[[str, str, np.ndarray], str],
               ptr: Callable[[str], str]) -> str:
        """C statements: constants registered through `const`, arena pointers by `ptr`."""
        exprs = []
        for j, (a, ct) in enumerate(zip(self.args, self.spec.ctypes)):
            if isinstance(a, str):
                exprs.append(f"({ct} *){ptr(a)}")
            else:
                exprs.append(f"({ct} *){const(_CTYPE[str(a.dtype)], f'{prefix}_t{j}', a)}")
        return f"    (void){self.symbol}({', '.join(exprs)});\n"


def symbol_for(index: int) -> str:
    return f"emb_tvm_layer_{index}"


def layer_module(layer: tir_ops.TirLayer) -> tvm.IRModule:
    """The PrimFunc as the IRModule MetaSchedule tunes (workload key: its structure)."""
    return tvm.IRModule({"main": layer.func})


def build_layer(layer: tir_ops.TirLayer, symbol: str, target: Target, out: Path,
                scheduled: tvm.IRModule | None = None) -> TvmCall:
    """Build one layer (the given schedule, else the default one) to an object file."""
    mod = scheduled if scheduled is not None else schedule.default_schedule(layer.func)
    unpacked_api.build_object(mod, symbol, target, out)
    return TvmCall(symbol, harness.spec_of(layer.func, symbol), layer.args)


def case_for(layer: tir_ops.TirLayer, kernel: int, env: dict[str, np.ndarray],
             g: QGraph, node: QNode) -> harness.Case:
    """The harness call of `layer` on the activations in `env` (e.g. a reference run)."""
    blobs = [env[a] if isinstance(a, str) else a for a in layer.args[:-1]]
    return harness.Case(kernel, blobs, tuple(g.tensor(node.outputs[0]).shape))
