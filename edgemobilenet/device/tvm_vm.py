"""Running and timing a loaded TVM module on a device (local or over RPC): tensors in,
tensors out, seconds. Nothing here builds or computes a model. TVM is imported on first
use (the `edgemb board` commands import this module without needing it)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np


def runtime_env(threads: int | None) -> dict[str, str]:
    """Environment of a process that runs our TVM modules (read when TVM's thread pool
    starts): `threads` workers, not pinned to cores unless the user's TVM_BIND_THREADS
    says so. TVM pins them by default, and a pinned worker waits for its core whenever
    anything else runs there: MobileNetV2 1.0-224 on a 2-core x86 host, 2 threads, one
    other busy process: median 6.5-6.8 ms pinned, 2.9 ms not (minima alike, 2.3-2.6 ms).
    XNNPACK's and onnxruntime's pools do not pin either."""
    env = {"TVM_BIND_THREADS": os.environ.get("TVM_BIND_THREADS", "0")}
    if threads:
        env["TVM_NUM_THREADS"] = str(threads)
    return env


def run_vm(vm, dev, x: np.ndarray, n_outputs: int) -> list[np.ndarray]:
    """Run `main` on one input through the stateful interface (works locally and over RPC)."""
    from tvm.runtime import tensor

    vm.set_input("main", tensor(x, dev))
    vm.invoke_stateful("main")
    out = vm.get_outputs("main")
    outs = [out] if n_outputs == 1 else [out[i] for i in range(n_outputs)]
    return [o.numpy() for o in outs]


def zero_kernel_args(table: list[dict[str, Any]], dev) -> list[list[Any]]:
    """Zero-filled arguments of every kernel of `table` (backends/tvm/kernel_profile.py),
    allocated on `dev` (once)."""
    from tvm.runtime import tensor

    return [[tensor(np.zeros(shape, dtype), dev) for shape, dtype in k["args"]]
            for k in table]


def time_kernels(lib, dev, table: list[dict[str, Any]], args: list[list[Any]],
                 number: int = 10) -> list[float]:
    """Seconds per call of each kernel of `table`, timed on `dev` (local or remote)."""
    return [float(lib.time_evaluator(k["name"], dev, number=number, repeat=1)(*a).results[0])
            for k, a in zip(table, args)]
