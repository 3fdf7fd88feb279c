"""Tuning Cortex-M kernels on a board over the serial protocol (`tune --port`): each
candidate is a one-layer firmware, flashed and timed with `invoke` + the layer profile,
its output checked against the reference. Driven here through an emulated board's UART
(the real-board connector only adds the target's flash command and a serial port);
`compile --tune-db` then compares kernels on the same board and stays bit-exact."""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from firmware_check import assert_firmware_matches_reference
from qgraph_builders import GraphBuilder, sample_input

from edgemobilenet.backends.tvm.mcu.board_runner import emulated_connector, one_layer_graph
from edgemobilenet.backends.tvm.mcu.tune import tune_mcu
from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.quant import reference
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("qemu-system-arm", "arm-none-eabi-gcc")


def _model():
    b = GraphBuilder(np.random.default_rng(0), (1, 8, 8, 16), 0.05, -3)
    x = b.conv2d("input", 16, 3, 1, groups=16, act="relu6")
    return b.build(b.conv2d(x, 16, 1, act="relu6"))


def test_one_layer_graph_runs_like_the_layer_in_the_model():
    g = _model()
    x = sample_input(g, np.random.default_rng(1))
    env = reference.run(g, x, keep_all=True)
    node = g.nodes[1]
    sub = one_layer_graph(g, 1)
    assert sub.inputs == node.inputs and sub.outputs == node.outputs
    out = reference.run(sub, env[node.inputs[0]])[node.outputs[0]]
    np.testing.assert_array_equal(out, env[node.outputs[0]])


def test_tune_on_a_board_then_select_on_it_is_bit_exact(tmp_path):
    g = _model()
    target = load_target("mps2-an386")
    board = emulated_connector(target)
    s = tune_mcu(g, target, tmp_path / "db", 2, cost_model="random", strategy="replay-trace",
                 connect=board)
    assert [t["kind"] for t in s["tasks"]] == ["depthwise", "pointwise"]
    assert all(t["trials"] >= 1 and t["best_instructions"] > 0 for t in s["tasks"])
    again = tune_mcu(g, target, tmp_path / "db", 2, cost_model="random",
                     strategy="replay-trace", connect=board)
    assert [t["new_trials"] for t in again["tasks"]] == [0, 0]

    doc = compile_mcu(g, target, tmp_path / "fw", tune_db=tmp_path / "db",
                              connect=board)
    rows = [r["kernel"] for r in doc["layers"] if "kernel" in r]
    assert len(rows) == 2
    for r in rows:   # both measured on the board; the faster one chosen
        assert r["unit"] == "instructions" and r["hand_instructions"] > 0
        assert (r["kernel"] != "hand") == (r["tvm_instructions"] < r["hand_instructions"])
    assert_firmware_matches_reference(g, target, tmp_path / "fw")


def test_a_board_that_cannot_be_reached_stops_tuning(tmp_path):
    @contextlib.contextmanager
    def unreachable(build_dir: Path):
        raise EdgembError("/dev/ttyACM9: no such port")
        yield

    with pytest.raises(EdgembError, match="measuring on the board: /dev/ttyACM9"):
        tune_mcu(_model(), load_target("mps2-an386"), tmp_path / "db", 2,
                 cost_model="random", strategy="replay-trace", connect=unreachable)


def test_tune_port_cli_errors(tmp_path):
    r = CliRunner().invoke(main, ["tune", "-t", "mps2-an386", "--port", "/dev/null",
                                  "--trials", "1", "--db", str(tmp_path / "db")])
    assert "emulated board: it is measured in QEMU" in str(r.exception)
    r = CliRunner().invoke(main, ["tune", "-t", "mps2-an386", "--port", "/dev/null",
                                  "--emulate", "--trials", "1"])
    assert "either --emulate" in str(r.exception)
