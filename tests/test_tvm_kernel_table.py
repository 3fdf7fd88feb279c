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
