"""TVM-generated Cortex-M kernels (backends/tvm/mcu): every layer kind the zoo uses,
lowered to TIR, built as an ARM object through the unpacked-API pipeline, linked into the
QEMU kernel driver and compared bit for bit with the numpy reference. One firmware per
machine runs all cases."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from qgraph_builders import SINGLE_OP_BUILDERS, conv2d, sample_input

from edgemobilenet.backends.tvm.mcu import harness, kernels, tir_ops, unpacked_api
from edgemobilenet.quant import reference
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("qemu-system-arm", "arm-none-eabi-gcc")

CASES = ["conv3x3_s2_relu6", "conv1x1_relu", "conv5x5_asym_pad", "conv_grouped",
         "depthwise3x3", "depthwise3x3_s2", "fully_connected", "add_relu", "avg_pool_global",
         "avg_pool_3x3_s2_pad", "conv_exact_requant"]


def _graph(name: str):
    if name != "conv_exact_requant":
        return SINGLE_OP_BUILDERS[name](np.random.default_rng(0))
    # left shifts and shift 0 on some channels: the literal SRDHM + RDIVPOT path
    g = SINGLE_OP_BUILDERS["conv1x1_relu"](np.random.default_rng(2))
    sh = g.nodes[-1].params["shift"]
    sh[::3], sh[1::3] = 1, 0
    return g


@pytest.mark.parametrize("machine", ["mps2-an386", "mps3-an547"])   # M4, M55
def test_layer_kinds_bit_exact_in_qemu(machine, tmp_path):
    target = unpacked_api.mcu_target(load_target(machine))
    objs, specs, cases, want, kinds = [], [], [], [], set()
    for i, name in enumerate(CASES):
        g = _graph(name)
        env = reference.run(g, sample_input(g, np.random.default_rng(1)), keep_all=True)
        node = g.nodes[-1]
        layer = tir_ops.lower(g, node)
        kinds.add(layer.kind)
        call = kernels.build_layer(layer, f"k_{i}", target, tmp_path / f"k_{i}.o")
        objs.append(tmp_path / f"k_{i}.o")
        specs.append(call.spec)
        cases.append(kernels.case_for(layer, i, env, g, node))
        want.append(env[node.outputs[0]])
    assert kinds == {"conv", "pointwise", "depthwise", "fully_connected", "add", "avg_pool"}
    elf = harness.link(machine, objs, specs, tmp_path / "t.elf", tmp_path)
    got = harness.run(elf, machine, cases)
    bad = [n for n, (y, _), w in zip(CASES, got, want) if not np.array_equal(y, w)]
    assert not bad, f"{machine}: TVM kernels differ from the reference: {bad}"
    assert all(n > 0 for _, n in got)          # instruction counting works


def test_exact_requant_case_uses_literal_path():
    g = _graph("conv_exact_requant")
    assert tir_ops._rq_tables(g.nodes[-1].params["multiplier"],
                              g.nodes[-1].params["shift"])[0] == "exact"


def test_unpacked_c_source_has_plain_signature_and_compiles(tmp_path):
    """Target `c`: plain C without TVM's runtime includes, built by the firmware's gcc."""
    g = SINGLE_OP_BUILDERS["fully_connected"](np.random.default_rng(0))
    layer = tir_ops.lower(g, g.nodes[-1])
    src = unpacked_api.build_object(layer.func, "fc_kernel", unpacked_api.Target({"kind": "c"}),
                                    tmp_path / "fc.c").read_text()
    assert "int32_t fc_kernel(int8_t* X, int8_t* W, int32_t* B, int32_t* m, int64_t* k, " \
           "int32_t* e1, int8_t* Y)" in src
    assert "tvm/" not in src and "__tvm_ffi__library_ctx" not in src
    r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "-c",
                        str(tmp_path / "fc.c"), "-o", str(tmp_path / "fc.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("machine,name,k,arch,mnemonics", [
    ("mps2-an386", "emb_smlad_4x4", 4, "armv7e-m", ("smlad", "sxtb16")),
    ("mps3-an547", "emb_mve_16x4", 16, "armv8.1-m.main", ("vmlava",))])
def test_tensor_intrinsic_tensorizes_bit_exact(machine, name, k, arch, mnemonics, tmp_path):
    """SMLAD (M4) and MVE (M55) intrinsics of intrin.py in a hand-written schedule: 4 output
    channels x k input channels per call, requantization fused per 4-channel tile."""
    import tvm
    from tvm import s_tir

    from edgemobilenet.backends.tvm.mcu import intrin

    g = conv2d(np.random.default_rng(0), h=5, w=5, c_in=32, c_out=8, kernel=1, act="relu")
    node = g.nodes[-1]
    layer = tir_ops.lower(g, node)
    target = unpacked_api.mcu_target(load_target(machine))
    assert intrin.for_layer(target, layer) == [name]
    sch = s_tir.Schedule(tvm.IRModule({"main": layer.func}))
    acc = sch.get_sblock("acc")
    n, i, j, ch, rh, rw, rc = sch.get_loops(acc)
    cho, chi = sch.split(ch, [None, 4])
    rco, rci = sch.split(rc, [None, k])
    sch.reorder(n, i, j, cho, rh, rw, rco, chi, rci)
    sch.reverse_compute_at(sch.get_sblock("Y"), cho)
    sch.decompose_reduction(acc, rh)
    sch.tensorize(chi, name)
    call = kernels.build_layer(layer, "k_intrin", target, tmp_path / "k.o", sch.mod)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", arch, str(tmp_path / "k.o")],
                         capture_output=True, text=True).stdout
    assert all(m in dis for m in mnemonics)
    env = reference.run(g, sample_input(g, np.random.default_rng(1)), keep_all=True)
    elf = harness.link(machine, [tmp_path / "k.o"], [call.spec], tmp_path / "t.elf", tmp_path)
    [(y, _)] = harness.run(elf, machine, [kernels.case_for(layer, 0, env, g, node)])
    assert np.array_equal(y, env[node.outputs[0]])
