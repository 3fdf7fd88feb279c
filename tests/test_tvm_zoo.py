"""Every zoo architecture, quantized by the converter at tiny size, compiled by TVM for the
host equals the numpy reference bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgemobilenet.backends.tvm.build import compile_qgraph, host_target, run_local
from edgemobilenet.models import ARCHS, build
from edgemobilenet.models.zoo import task_of
from edgemobilenet.quant import reference
from edgemobilenet.quant.convert import quantize_module


# 5-16 s per architecture on 2 cores (mostly LLVM code generation), 72 s in all; of the
# detection/segmentation models one SSDLite and one LR-ASPP (deeplabv3_mobilenet_v2 passes
# too, measured once, but its compile alone takes minutes on a loaded machine)
@pytest.mark.parametrize("arch", sorted(a for a in ARCHS if task_of(a) == "classification")
                         + ["ssdlite_mobilenet_v2", "lraspp_mobilenet_v3_small"])
def test_zoo_arch_bit_exact_on_host(arch):
    torch.manual_seed(0)
    model = build(arch, width=0.35, resolution=32, num_classes=10).eval()
    g = quantize_module(model, torch.rand(4, 3, 32, 32) * 2 - 1)
    ex = compile_qgraph(g, host_target())
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.integers(-128, 128, g.tensors[g.inputs[0]].shape, dtype=np.int8)
        out, ref = run_local(ex, g, x), reference.run(g, x)
        for name, want in ref.items():
            np.testing.assert_array_equal(out[name], want, err_msg=f"{arch}: output {name}")
