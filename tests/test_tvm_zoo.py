"""Every zoo architecture, quantized by the converter at tiny size, compiled by TVM for the
host equals the numpy reference bit for bit, and its kernels take the default schedules."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from tvm import s_tir

from edgemobilenet.backends.tvm import te_depthwise
from edgemobilenet.backends.tvm.build import compile_qgraph, host_target, lower, run_local
from edgemobilenet.backends.tvm.linux_target import linux_target
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


def _has_anchor(f: tvm.tirx.PrimFunc) -> bool:
    sch = s_tir.Schedule(f)
    for name in SCHEDULED_ANCHORS:
        try:
            sch.get_sblock(name)
            return True
        except s_tir.ScheduleError:
            pass
    return False


# the kernels the default schedules must take: a rule that fails (tensorize not matching,
# a schedule error) leaves the generic unscheduled loops, silently: squeeze-excite 1x1 convs
# once ran so at 10.6 instructions per MAC on the emulated A72
SCHEDULED_ANCHORS = {"conv_packed", "dense_packed", te_depthwise.BLOCK}


@pytest.mark.parametrize("target", ["rpi4", "rpi5", "host"])
@pytest.mark.parametrize("arch", sorted(a for a in ARCHS if task_of(a) == "classification"))
def test_zoo_arch_kernels_take_the_default_schedules(arch, target):
    torch.manual_seed(0)
    model = build(arch, width=0.35, resolution=32, num_classes=10).eval()
    g = quantize_module(model, torch.rand(4, 3, 32, 32) * 2 - 1)
    spec = host_target() if target == "host" else linux_target(target).tvm_target
    mod = lower(g, spec)
    missed = [gv.name_hint for gv, f in mod.functions.items()
              if isinstance(f, tvm.tirx.PrimFunc)
              and not (f.attrs and f.attrs.get("tirx.is_scheduled", False)) and _has_anchor(f)]
    assert not missed, f"{arch} for {target}: left to the generic loops: {missed}"
