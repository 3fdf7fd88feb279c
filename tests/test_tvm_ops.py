"""TVM backend: every QGraph op compiled for the host equals the numpy reference bit for bit;
`compile_linux` writes a cross-compiled aarch64 build directory."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import tvm
from qgraph_builders import SINGLE_OP_BUILDERS, mobilenet_v2, sample_input

from edgemobilenet.backends.tvm.build import compile_module, compile_qgraph, host_target, \
    lower, run_local
from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph, reference


def _check_exact(g, ex, seeds=(0, 1, 2)):
    for seed in seeds:
        x = sample_input(g, np.random.default_rng(seed))
        out, ref = run_local(ex, g, x), reference.run(g, x)
        for name, want in ref.items():
            assert out[name].dtype == np.int8
            np.testing.assert_array_equal(out[name], want, err_msg=f"output {name}, seed {seed}")


@pytest.mark.parametrize("case", sorted(SINGLE_OP_BUILDERS))
def test_single_op_bit_exact_on_host(case):
    g = SINGLE_OP_BUILDERS[case](np.random.default_rng(7))
    _check_exact(g, compile_qgraph(g, host_target()))


def test_small_mobilenet_v2_bit_exact_on_host():
    """... with every convolution and elementwise kernel given its default schedule
    (hand-written kernels, x86 VNNI's depthwise, need none)."""
    from edgemobilenet.backends.tvm.default_schedules import hand_written

    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    mod = lower(g, host_target())
    kernels = {gv.name_hint: bool(f.attrs.get("tirx.is_scheduled", False)) or hand_written(f)
               for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)}
    convs = [k for k in kernels if "conv_packed" in k or "depthwise" in k]
    assert len(convs) >= 10 and all(kernels[k] for k in convs + ["prep", "qadd"] if k in kernels)
    _check_exact(g, compile_module(mod, host_target()), seeds=(1, 2))


def test_compile_linux_rpi4_writes_aarch64_build(tmp_path):
    g = SINGLE_OP_BUILDERS["mul_se"](np.random.default_rng(1))
    out = tmp_path / "build"
    out.mkdir()
    (out / "stale.txt").write_text("replaced atomically")
    manifest = compile_linux(g, "rpi4", out)
    assert sorted(p.name for p in out.iterdir()) == ["kernels.so", "manifest.json",
                                                     "model.qgraph", "model.so"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["model_hash"] == g.digest() == qgraph.load(out / "model.qgraph").digest()
    assert manifest["tvm_target"]["mcpu"] == "cortex-a72"
    assert manifest["library_bytes"] == (out / "model.so").stat().st_size
    elf = subprocess.run(["file", "-b", str(out / "model.so")], capture_output=True, text=True)
    assert "ARM aarch64" in elf.stdout and "shared object" in elf.stdout
    assert [k["calls"] for k in manifest["kernels"]] and all(
        k["args"] for k in manifest["kernels"])
    assert not list(tmp_path.glob(".build*"))  # no temporary directories left behind


def test_linux_targets_resolve_to_tvm_targets():
    host = linux_target("host")
    assert host.cross_compiler is None and host.tvm_target["mcpu"] != "host"
    rpi5 = linux_target("rpi5")
    assert "+dotprod" in rpi5.tvm_target["mattr"] and rpi5.qemu_cpu == "cortex-a76"
    for name in ("rpi3", "rpi4", "aarch64"):
        t = linux_target(name)
        assert t.tvm_target["mtriple"] == "aarch64-linux-gnu"
        assert t.cross_compiler == "aarch64-linux-gnu-gcc" and t.qemu_cpu


def test_mcu_target_is_rejected():
    with pytest.raises(EdgembError, match="not a linux"):
        linux_target("mps2-an386")


def test_cli_compile_for_rpi4_writes_manifest(tmp_path):
    from click.testing import CliRunner

    from edgemobilenet.cli import main

    g = SINGLE_OP_BUILDERS["conv3x3"](np.random.default_rng(2))
    qgraph.save(g, tmp_path / "m.qgraph")
    r = CliRunner().invoke(main, ["compile", str(tmp_path / "m.qgraph"), "-t", "rpi4",
                                  "-o", str(tmp_path / "b"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["target"] == "rpi4" and doc["model_hash"] == g.digest()
    assert (tmp_path / "b" / "model.so").stat().st_size == doc["library_bytes"]
