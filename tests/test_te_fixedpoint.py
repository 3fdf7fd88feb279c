"""The TIR fixed-point arithmetic of the TVM kernels (backends/tvm/te_fixedpoint.py) equals
the reference's MBQM (quant/fixedpoint.py) for every int32 input, multiplier and shift,
compiled vectorised as the kernels are: the int64 and the AVX-512 `pmuldq` forms on this
machine, aarch64's `sqrdmulh` form on an emulated Cortex-A72."""
from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax, s_tir, te

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm.build import compile_module, export, host_target
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_count import count_inference
from edgemobilenet.device.tvm_vm import run_vm
from edgemobilenet.quant.fixedpoint import INT32_MAX, INT32_MIN, mbqm

LANES = {"host": 16, "rpi4": 4}   # int32 lanes of the kernels' vectors (default_schedules)
EDGE_X = [INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3,
          1 << 30, INT32_MAX - 1, INT32_MAX]
EDGE_M = [0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX]


def _cases(rng: np.random.Generator, random: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every edge input x edge multiplier x shift -31..8, then `random` random triples
    (full int32 range and accumulator-sized inputs)."""
    x = [a for a in EDGE_X for _ in EDGE_M for _ in range(40)]
    m = [b for _ in EDGE_X for b in EDGE_M for _ in range(40)]
    shift = [s for _ in EDGE_X for _ in EDGE_M for s in range(-31, 9)]
    h = random // 2
    x += list(rng.integers(INT32_MIN, INT32_MAX, h, endpoint=True)) + \
        list(rng.integers(-70000, 70000, random - h))
    m += list(rng.integers(1 << 30, INT32_MAX, random, endpoint=True))
    shift += list(rng.integers(-31, 9, random))
    pad = -len(x) % LANES["host"]
    return tuple(np.array(v + v[:pad], dtype=np.int64) for v in (x, m, shift))


def _module(m: np.ndarray, shift: np.ndarray, form: str, lanes: int) -> tvm.IRModule:
    """main(x: int32[n]) -> MBQM(x[i], m[i], shift[i]), the kernel vectorised by `lanes`."""
    table = tfp.qparams(np.zeros(m.size, dtype=np.int64), m, shift)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([m.size], "int32"))

    def kernel(xt: te.Tensor, p: te.Tensor) -> te.Tensor:
        return te.compute(xt.shape, lambda i: tfp.mbqm(
            xt[i], *(p[i, k] for k in range(1, 5)), form=form), name="y")
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(bb.emit_te(kernel, x, relax.const(table), primfunc_name_hint="k"))
        bb.emit_func_output(y)
    mod = bb.get()
    sch = s_tir.Schedule(mod["k"])
    if lanes > 1:
        _, inner = sch.split(sch.get_loops(sch.get_sblock("y"))[0], [None, lanes])
        sch.vectorize(inner)
    mod["k"] = sch.mod["main"]
    return mod


def _check(got: np.ndarray, x, m, shift) -> None:
    want = mbqm(x, m, shift)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(int(x[i]), int(m[i]), int(shift[i]), int(got[i]), int(want[i]))
                           for i in bad[:5]]


# the host's forms at the kernels' lanes (16; elementwise kernels 32), pairs and scalars
# (`_pmuldq_lower`'s plain int64 path)
@pytest.mark.parametrize("form,lanes", [(tfp.INT64, 16), (tfp.PMULDQ, 16), (tfp.PMULDQ, 32),
                                        (tfp.PMULDQ, 8), (tfp.PMULDQ, 2), (tfp.PMULDQ, 1)])
def test_mbqm_matches_the_reference_vectorised(form, lanes):
    x, m, shift = _cases(np.random.default_rng(0), 40000)
    ex = compile_module(_module(m, shift, form, lanes), host_target())
    dev = tvm.cpu()
    (got,) = run_vm(relax.VirtualMachine(ex, dev), dev, x.astype(np.int32), 1)
    _check(got, x, m, shift)


@pytest.mark.slow  # one emulated run (import tvm under qemu), ~20 s
def test_mbqm_sqrdmulh_matches_the_reference_on_emulated_a72(tmp_path):
    lt = linux_target("rpi4")
    assert tfp.form(lt.tvm_target) == tfp.SQRDMULH
    x, m, shift = _cases(np.random.default_rng(1), 4096 - len(EDGE_X) * len(EDGE_M) * 40)
    lib = export(compile_module(_module(m, shift, tfp.SQRDMULH, LANES["rpi4"]), lt.tvm_target),
                 tmp_path / "mbqm.so", lt.cross_compiler)
    np.save(tmp_path / "x.npy", x.astype(np.int32))
    c = count_inference("tvm", lib, lt.qemu_cpu, inferences=1,
                        input_spec={"shape": [x.size], "dtype": "int32"},
                        input_npy=tmp_path / "x.npy")
    _check(np.array(c.output["values"], dtype=np.int64), x, m, shift)


def test_mbqm_form_per_target():
    """aarch64: sqrdmulh; x86 with AVX-512 (this host): pmuldq; x86 without (AVX2): int64."""
    assert tfp.form(linux_target("rpi4").tvm_target) == tfp.SQRDMULH
    assert tfp.form(host_target()) == tfp.PMULDQ
    assert tfp.form({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "znver3"}) == tfp.INT64
