"""A model compiled for the Raspberry Pi 4 runs on the emulated Pi (TVM RPC server under
qemu-aarch64 -cpu cortex-a72), directly and through a tracker, with outputs identical to
the numpy reference. The first run prepares the aarch64 root (~40 MB download, 1-2 min)."""
from __future__ import annotations

import gc
import os
import signal
import time

import numpy as np
import pytest
from pi_board import direct_board
from qgraph_builders import mobilenet_v2, sample_input

from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_emulator import free_port, prepare_root, start_board
from edgemobilenet.device.rpc import connect, load_build, start_tracker, stop_group
from edgemobilenet.quant import reference


@pytest.fixture(scope="module")
def rpi4_build(tmp_path_factory):
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    out = tmp_path_factory.mktemp("rpi4") / "build"
    compile_linux(g, "rpi4", out)
    return g, out


def _run_and_compare(session, g, build_dir):
    model = load_build(session, build_dir)
    for seed in (1, 2):
        x = sample_input(g, np.random.default_rng(seed))
        out, ref = model.run(x), reference.run(g, x)
        for name, want in ref.items():
            np.testing.assert_array_equal(out[name], want, err_msg=f"output {name}")
    secs = model.time(number=1, repeat=2)
    assert len(secs) == 2 and all(s > 0 for s in secs)


@pytest.mark.slow  # about 25 s per emulated board start (import tvm under qemu)
def test_emulated_rpi4_direct_and_tracker(rpi4_build):
    g, build_dir = rpi4_build
    prepare_root()
    t = linux_target("rpi4")
    board = direct_board()
    _run_and_compare(connect(rpc=f"{board.host}:{board.port}"), g, build_dir)
    port = free_port()
    tracker = start_tracker("127.0.0.1", port)
    try:
        with start_board(t.qemu_cpu, tracker=f"127.0.0.1:{port}", key=t.rpc_key, threads=2):
            _run_and_compare(connect(tracker=f"127.0.0.1:{port}", key=t.rpc_key), g, build_dir)
    finally:
        stop_group(tracker)


@pytest.mark.slow  # about 2-4 min: a board start, MetaSchedule start-up, emulated measurement
def test_tiny_tuning_over_tracker_on_emulated_rpi4_is_reused_by_compile(rpi4_build, tmp_path):
    """...and when the board then stops answering, tuning gives up on it within its limit."""
    from edgemobilenet.backends.tvm.tune import tune

    g, _ = rpi4_build
    prepare_root()
    t = linux_target("rpi4")
    port = free_port()
    tracker = start_tracker("127.0.0.1", port)
    try:
        with start_board(t.qemu_cpu, tracker=f"127.0.0.1:{port}", key=t.rpc_key,
                         threads=2) as board:
            summary = tune(g, t, tmp_path / "db", trials=2, tracker=f"127.0.0.1:{port}",
                           key=t.rpc_key, max_tasks=1, strategy="replay-trace",
                           space="metaschedule", timeout_sec=120)
            assert summary["measured"] >= 1
            tuned = tmp_path / "tuned"
            compile_linux(g, "rpi4", tuned, tune_db=tmp_path / "db")
            _run_and_compare(connect(tracker=f"127.0.0.1:{port}", key=t.rpc_key), g, tuned)

            gc.collect()   # free the sessions' remote objects while the board still answers
            os.killpg(board.proc.pid, signal.SIGSTOP)   # a hung board: connects, never answers
            start = time.monotonic()
            hung = tune(g, t, tmp_path / "db2", trials=1, tracker=f"127.0.0.1:{port}",
                        key=t.rpc_key, max_tasks=1, strategy="replay-trace",
                        space="metaschedule", timeout_sec=10)
            assert hung["measured"] == 0
            assert time.monotonic() - start < 90
            os.killpg(board.proc.pid, signal.SIGCONT)
    finally:
        stop_group(tracker)


@pytest.mark.slow  # about 40 s: MetaSchedule start-up, one candidate measured emulated
def test_tiny_tuning_on_a_boards_rpc_server(rpi4_build, tmp_path):
    from edgemobilenet.backends.tvm.tune import tune

    g, _ = rpi4_build
    board = direct_board()
    s = tune(g, linux_target("rpi4"), tmp_path / "db", trials=1,
             rpc=f"{board.host}:{board.port}", max_tasks=1, strategy="replay-trace", timeout_sec=120)
    assert s["measured"] == 1
