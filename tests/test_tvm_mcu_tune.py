"""MetaSchedule tuning of Cortex-M kernels in QEMU (backends/tvm/mcu/tune.py) and its use
by `compile --tune-db`: a few random trials per layer of a tiny model, the database resumed
without new trials, then firmware built from it runs bit-exact in QEMU."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from firmware_check import assert_firmware_matches_reference
from qgraph_builders import GraphBuilder

from edgemobilenet.backends.tvm.mcu.tune import tune_mcu
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("qemu-system-arm", "arm-none-eabi-gcc")


def _tiny_model():
    b = GraphBuilder(np.random.default_rng(0), (1, 8, 8, 4), 0.05, -3)
    x = b.conv2d("input", 8, 3, 2, act="relu6")
    x = b.conv2d(x, 8, 3, 1, groups=8, act="relu6")
    x = b.conv2d(x, 16, 1, act="relu6")
    x = b.reshape(b.avg_pool(x), (1, 16))
    return b.build(b.fully_connected(x, 5))


def test_tune_then_compile_with_tuned_kernels_is_bit_exact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)            # relative paths, as `edgemb` gets them
    g = _tiny_model()
    target = load_target("mps2-an386")
    seen = []
    s = tune_mcu(g, target, Path("db"), 3, seen.append, cost_model="random",
                 strategy="replay-trace")
    assert [t["kind"] for t in s["tasks"]] == ["conv", "depthwise", "pointwise",
                                               "fully_connected"]
    assert len(seen) == 4 and all(t["trials"] >= 3 and t["best_instructions"] > 0
                                  for t in s["tasks"])
    again = tune_mcu(g, target, Path("db"), 3, cost_model="random",
                     strategy="replay-trace")
    assert [t["new_trials"] for t in again["tasks"]] == [0, 0, 0, 0]

    doc = compile_mcu(g, target, Path("fw"), tune_db=Path("db"))
    rows = [r["kernel"] for r in doc["layers"] if "kernel" in r]
    assert len(rows) == 4 and all(r["hand_instructions"] > 0 and r["tvm_instructions"] > 0
                                  for r in rows)
    for r in rows:   # the faster one was chosen
        assert (r["kernel"] != "hand") == (r["tvm_instructions"] < r["hand_instructions"])

    doc = compile_mcu(g, target, Path("fw_tvm"), tune_db=Path("db"),
                              kernel_choice="tvm")
    assert sum(r.get("kernel", {}).get("kernel", "hand") != "hand" for r in doc["layers"]) == 4
    assert_firmware_matches_reference(g, target, Path("fw_tvm"))
