"""The Linux build's kernel table (backends/tvm/kernel_profile.py) names each fused
kernel's primitives and counts its multiply-accumulates from the TIR."""
from __future__ import annotations

import numpy as np
import qgraph_builders as qb

from edgemobilenet.backends.tvm.build import lower
from edgemobilenet.backends.tvm.kernel_profile import kernel_ops, kernel_table
from edgemobilenet.bench import graph_macs

RPI4 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "mattr": ["+neon"]}


def test_kernel_macs_add_up_to_the_graphs():
    g = qb.mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    generic = kernel_table(lower(g, RPI4, None, None))
    assert sum(k["macs"] * k["calls"] for k in generic) == graph_macs(g)
    mac_ops = ("conv2d", "depthwise", "matmul")   # relax_builder's MAC kernels
    assert all(any(m in k["op"] for m in mac_ops) == (k["macs"] > 0) for k in generic)
    # channels padded to the block; MACs counted before the schedules tensorize them
    packed = kernel_table(lower(g, RPI4, None, "auto", schedule=False))
    assert graph_macs(g) <= sum(k["macs"] * k["calls"] for k in packed) < 1.1 * graph_macs(g)


def test_kernel_ops_from_names():
    assert kernel_ops("fused_conv_packed3_requant6_qadd_prep5") == "conv_packed+requant+qadd+prep"
    assert kernel_ops("fused_conv2d3_requant7_prep6") == "conv2d+requant+prep"
    assert kernel_ops("pad2") == "pad"


_TIME_ON_ZEROS = """
import sys, numpy as np, tvm
sys.path.insert(0, "tests")
from qgraph_builders import GraphBuilder
from edgemobilenet.backends.tvm.build import compile_module, host_target, lower
from edgemobilenet.backends.tvm.kernel_profile import kernel_table
from edgemobilenet.device.tvm_vm import time_kernels, zero_kernel_args
b = GraphBuilder(np.random.default_rng(0), (1, 6, 6, 8), 0.05, 0)
x = b.avg_pool("input", kernel=[3, 3], stride=2, padding=(1, 1, 1, 1))
x = b.avg_pool(x)
x = b.reshape(x, (1, 8))
g = b.build(b.softmax(b.fully_connected(x, 5)))
mod = lower(g, host_target())
table = kernel_table(mod)
lib = compile_module(mod, host_target()).mod.imports[0]
times = time_kernels(lib, tvm.cpu(), table, zero_kernel_args(table, tvm.cpu()), number=1)
print(sorted(k["op"] for k in table), len(times))
"""


def test_every_kernel_times_on_zero_filled_arguments(tmp_path):
    """Per-kernel timing feeds zeros: the pooling and softmax divisions must not trap on x86
    (SIGFPE killed the process before their divisors were made nonzero)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _TIME_ON_ZEROS], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "avg" in r.stdout and "softmax" in r.stdout, r.stdout
