"""Instruction counts on the emulated Pi core: a tiny instruction-count tuning run over the
knob space on the emulated rpi4 (qemu-aarch64 -cpu cortex-a72 with the counting plugin)
finishes, its database is applied by compile, and the tuned module, counted on the same core, returns
exactly the numpy reference's output."""
from __future__ import annotations

import subprocess
import tempfile

import numpy as np
import pytest
import tvm
from qgraph_builders import mobilenet_v2

from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_count import count_build
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import reference


@pytest.mark.slow  # about 2-3 min: emulated worker start, MetaSchedule, compile, one count
def test_tiny_instruction_count_tuning_is_applied_bit_exact(tmp_path, monkeypatch):
    from edgemobilenet.backends.tvm.tune import tune

    # the runner's temporary files under tmp_path, so that its worker's command line names
    # this test (other emulated workers may run on the machine)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    s = tune(g, linux_target("rpi4"), tmp_path / "db", trials=2, emulate=True, max_tasks=1,
             timeout_sec=120)   # over the knob space of our default schedules
    assert s["measured"] == 2, s
    left = subprocess.run(["pgrep", "-f", f"{scratch}/.*pi_guest.py kernels"],
                          capture_output=True)
    assert left.returncode == 1, f"emulated worker left running: {left.stdout}"
    assert not list(scratch.glob("edgemb-icount-tune-*")), "the worker's directory is left"
    # the records' costs are instruction counts (1 instruction = 1 ns): whole, positive
    from edgemobilenet.backends.tvm.ms_database import open_database
    secs = [float(r.run_secs[0])
            for r in open_database(tmp_path / "db").get_all_tuning_records()]
    assert all(0 < v < 1 for v in secs)
    assert all(abs(v * 1e9 - round(v * 1e9)) < 1e-3 for v in secs)
    from edgemobilenet.backends.tvm.knob_space import DEFAULT_TEXT, record_knobs
    knobs = [record_knobs(r.trace) for r in open_database(tmp_path / "db").get_all_tuning_records()]
    # the default and one other setting (the database lists the better first)
    assert DEFAULT_TEXT in knobs and len(set(knobs) - {None, DEFAULT_TEXT}) == 1

    m = compile_linux(g, "rpi4", tmp_path / "tuned", tune_db=tmp_path / "db")
    assert m["tune_dbs"][0]["kernels"] >= 1 and not m["tune_notes"]
    c = count_build(tmp_path / "tuned", "cortex-a72", inferences=1)
    # the guest's input: numpy's generator with seed 0, as in pi_guest._input
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 32, 32, 3), dtype=np.int8)
    (want,) = reference.run(g, x).values()
    assert c.output["values"] == want.reshape(-1).tolist()
    assert 1e5 < c.per_inference < 1e9   # about 1 M


def test_tune_emulate_needs_an_emulated_core(tmp_path):
    from edgemobilenet.backends.tvm.tune import tune

    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    with pytest.raises(EdgembError, match="no emulated core"):
        tune(g, linux_target("host"), tmp_path / "db", trials=1, emulate=True)
    with pytest.raises(EdgembError, match="exactly one of"):
        tune(g, linux_target("rpi4"), tmp_path / "db", trials=1, emulate=True,
             rpc="127.0.0.1:1")


@pytest.mark.slow  # about 2-4 min: two emulated workers (tuner, kernels), 3 builds, a compile
def test_tuner_counts_each_candidate_as_the_compiled_module_runs_it(tmp_path, monkeypatch):
    """The emulated runner measures a candidate on its kernel's own constants from the
    module (weights, requantize table, zero points; activations zeros), built under the
    module's pass context (depthwise LoopPartition): each kernel's default candidate counts
    what the same kernel counts in the compiled module."""
    from qgraph_builders import GraphBuilder
    from tvm import relax

    from edgemobilenet.backends.tvm.build import lower
    from edgemobilenet.backends.tvm.icount_runner import CountingWorker
    from edgemobilenet.backends.tvm.ms_database import open_database, workload_key
    from edgemobilenet.backends.tvm.tune import CANDIDATE_PREFIX, tune
    from edgemobilenet.backends.tvm.tvm_compat import normalize_mod

    b = GraphBuilder(np.random.default_rng(0), (1, 8, 12, 8), 0.05, -10)
    # 20 channels: the depthwise keeps the TE kernel (a multiple of 8 takes `dw_neon`,
    # hand-written, no tuning task)
    x = b.conv2d("input", 20, kernel=1, act="relu6")
    x = b.conv2d(x, 20, kernel=3, groups=20, act="relu6")
    g = b.build(b.add("input", b.conv2d(x, 8, kernel=1)))
    sent: dict[str, list] = {}
    measure = CountingWorker.measure

    def spy(self, lib, args, func=None):
        sent[lib] = [np.load(a) if isinstance(a, str) else a for a in args]
        return measure(self, lib, args, func)

    monkeypatch.setattr(CountingWorker, "measure", spy)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    s = tune(g, linux_target("rpi4"), tmp_path / "db", trials=10, trials_per_task=1,
             emulate=True, timeout_sec=120)   # the default knobs of each kernel
    assert s["measured"] == len(s["tasks"]) >= 3, s
    assert sent and not list(scratch.glob(CANDIDATE_PREFIX + "*"))   # removed once counted
    # every candidate ran on its kernel's constants: the module's, value for value
    mod = lower(g, linux_target("rpi4").tvm_target, schedule=False)
    consts = []
    relax.analysis.post_order_visit(mod["main"].body, lambda e: consts.append(
        e.value.numpy()) if hasattr(getattr(e, "value", None), "numpy") else None)
    assert len(sent) == len(s["tasks"])
    for args in sent.values():
        files = [a for a in args if isinstance(a, np.ndarray)]
        assert len(files) >= 2 and all(any(a.shape == c.shape and (a == c).all()
                                           for c in consts) for a in files)
        assert all(isinstance(a, list) for a in args[:1])   # the activation: zeros
    from edgemobilenet.device.pi_guest import kernel_arg
    assert not kernel_arg([[4, 3], "int8"]).any()
    by_key = {workload_key(r.workload.mod): round(float(r.run_secs[0]) * 1e9)
              for r in open_database(tmp_path / "db").get_all_tuning_records()}
    tuned = {name: by_key[workload_key(normalize_mod(mod[name]))] for name in s["tasks"]}

    m = compile_linux(g, "rpi4", tmp_path / "b", tune_db="none")
    monkeypatch.setattr(CountingWorker, "measure", measure)
    w = CountingWorker("cortex-a72", timeout_sec=120)
    try:
        counted = {k["name"]: w.measure(str(tmp_path / "b" / m["kernel_library"]), k["args"],
                                        k["name"]) for k in m["kernels"] if k["name"] in tuned}
    finally:
        w.stop()
    assert any(name.startswith("fused_depthwise") for name in counted), counted
    # the call from Python (argument conversion in the guest) varies by up to a few hundred
    # instructions between runs (163 of 19,135 seen in CI): 0.5 % plus 400
    for name, n in counted.items():
        assert abs(tuned[name] - n) < 0.005 * n + 400, (name, tuned[name], n)
