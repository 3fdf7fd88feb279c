"""MetaSchedule: a tiny tuning run (a few trials on one small kernel, measured on the host)
writes a database (a second run with the same budget measures nothing new) that
`compile_qgraph(..., tune_db)` applies, still bit-exact, and on a VNNI host the tuned
pointwise kernel is tensorized to `vpdpbusd`. Tuning against a missing board or server
fails at once."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import tvm
from qgraph_builders import conv2d, sample_input

from edgemobilenet.backends.tvm import layouts
from edgemobilenet.backends.tvm.build import compile_qgraph, run_local
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.backends.tvm.tune import tune
from edgemobilenet.device.pi_emulator import free_port
from edgemobilenet.device.rpc import start_tracker, stop_group
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import reference


@pytest.mark.slow  # about 1-2 min: MetaSchedule start-up, the runner's worker pool
def test_tiny_tuning_run_applies_bit_exact(tmp_path):
    g = conv2d(np.random.default_rng(0), h=8, w=8, c_in=16, c_out=16, kernel=1, act="relu")
    host = linux_target("host")
    summary = tune(g, host, tmp_path / "db", trials=2, local=True, max_tasks=1,
                   space="metaschedule")
    assert summary["measured"] >= 1 and len(summary["tasks"]) == 1
    again = tune(g, host, tmp_path / "db", trials=2, local=True, max_tasks=1,
                 space="metaschedule")
    assert again["new_records"] == 0 and again["records"] == summary["records"]
    ex = compile_qgraph(g, host.tvm_target, tmp_path / "db")
    for seed in (1, 2):
        x = sample_input(g, np.random.default_rng(seed))
        np.testing.assert_array_equal(run_local(ex, g, x)[g.outputs[0]],
                                      reference.run(g, x)[g.outputs[0]])
    if layouts.select(host.tvm_target) is layouts.VNNI:
        ex.export_library(str(tmp_path / "m.so"))
        asm = subprocess.run(["objdump", "-d", str(tmp_path / "m.so")], capture_output=True,
                             text=True, check=True).stdout
        assert "vpdpbusd" in asm


def test_tune_rejects_local_measurement_of_a_cross_target(tmp_path):
    g = conv2d(np.random.default_rng(0), h=4, w=4, c_in=4, c_out=4, kernel=1)
    with pytest.raises(EdgembError, match="cross-compiled"):
        tune(g, linux_target("rpi4"), tmp_path / "db", trials=2, local=True)


def test_tune_over_a_tracker_without_the_board_fails_at_once(tmp_path, monkeypatch):
    from edgemobilenet.device import rpc

    monkeypatch.setattr(rpc, "BOARD_WAIT_SEC", 1.0)
    port = free_port()
    tracker = start_tracker("127.0.0.1", port)
    try:
        g = conv2d(np.random.default_rng(0), h=4, w=4, c_in=4, c_out=4, kernel=1)
        with pytest.raises(EdgembError, match="no board registered with key 'rpi4'"):
            tune(g, linux_target("rpi4"), tmp_path / "db", trials=2,
                 tracker=f"127.0.0.1:{port}")
    finally:
        stop_group(tracker)


def test_tune_on_an_rpc_server_that_is_not_there_fails_at_once(tmp_path):
    g = conv2d(np.random.default_rng(0), h=4, w=4, c_in=4, c_out=4, kernel=1)
    with pytest.raises(EdgembError, match=r"rpc server 127.0.0.1:\d+: cannot connect"):
        tune(g, linux_target("rpi4"), tmp_path / "db", trials=2, rpc=f"127.0.0.1:{free_port()}")
    with pytest.raises(EdgembError, match="exactly one of"):
        tune(g, linux_target("rpi4"), tmp_path / "db", trials=2, rpc="127.0.0.1:1",
             tracker="127.0.0.1:2")


def test_compile_with_missing_database_is_a_user_error(tmp_path):
    g = conv2d(np.random.default_rng(0), h=4, w=4, c_in=4, c_out=4, kernel=1)
    with pytest.raises(EdgembError, match="not a tuning database"):
        compile_qgraph(g, linux_target("host").tvm_target, tmp_path)


@pytest.mark.slow  # about 1 min: two MetaSchedule start-ups
def test_tune_cli_shows_progress_and_resumes(tmp_path):
    from click.testing import CliRunner

    from edgemobilenet.cli import main
    from edgemobilenet.quant import qgraph

    g = conv2d(np.random.default_rng(0), h=8, w=8, c_in=16, c_out=16, kernel=1)
    qgraph.save(g, tmp_path / "m.qgraph")
    args = ["tune", str(tmp_path / "m.qgraph"), "--target", "host", "--local", "--trials", "1",
            "--max-tasks", "1", "--space", "metaschedule", "--db", str(tmp_path / "db")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "1 new candidates measured" in first.output
    again = CliRunner().invoke(main, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["new_records"] == 0


@pytest.mark.slow  # 10-60 s: a build worker starts (it imports TVM)
def test_worker_builder_stops_a_build_past_its_limit():
    """A candidate whose build outlasts the limit fails, as a result, not a hang."""
    from tvm import te
    from tvm.s_tir import meta_schedule as ms

    from edgemobilenet.backends.tvm.tune import WorkerBuilder

    a = te.placeholder((16,), "int32", name="a")
    mod = tvm.IRModule({"main": te.create_prim_func([a, te.compute((16,), lambda i: a[i] + 1)])})
    inp = ms.builder.BuilderInput(mod, tvm.target.Target("llvm"))
    builder = WorkerBuilder(timeout_sec=120)
    try:
        (ok,) = builder.build([inp])
        builder.timeout_sec = 0.001   # less than any build
        (late,) = builder.build([inp])
        assert builder.worker is None   # the late build's worker is gone
    finally:
        builder.close()
    assert late.artifact_path is None and "stopped after 0 s" in late.error_msg
    assert ok.error_msg is None and os.path.isfile(ok.artifact_path)
