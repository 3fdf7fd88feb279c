"""`edgemb demo`: its figures are exactly what a direct `edgemb bench --emulate --json` on
the same build gives (small limit, tiny model; the shipped default model runs in `make demo`)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench_builds import LIMIT, REPEAT, TARGETS, build_dir, demo_result
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")

EDGEMB = str(Path(sys.executable).parent / "edgemb")


def test_demo_matches_direct_bench() -> None:
    res = demo_result()
    assert [d["target"] for d in res["results"]] == list(TARGETS)
    assert Path(res["reports"][0]).is_file() and res["reports"][0].endswith("demo/report.html")
    r = subprocess.run([EDGEMB, "bench", str(build_dir(TARGETS[0])), "--emulate", "--json",
                        "--data", "fashion-mnist", "--limit", str(LIMIT), "--repeat",
                        str(REPEAT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    direct = json.loads(r.stdout)
    demo = res["results"][0]
    for key in ("target", "model_hash", "accuracy", "memory"):
        assert direct[key] == demo[key], key
    # instruction counts are exact, but SysTick reads them in steps of tick_hz / clock_hz
    t = load_target(TARGETS[0])
    step = t.timer.tick_hz // t.clock_hz
    a, b = direct["latency"], demo["latency"]
    for k in ("unit", "unit_label", "runs", "ms_median"):
        assert a[k] == b[k], k
    for k in ("median", "p90", "min", "max"):
        assert abs(a[k] - b[k]) <= 2 * step, k
    assert [r["name"] for r in a["layers"]] == [r["name"] for r in b["layers"]]
    assert all(abs(x["median"] - y["median"]) <= 2 * step for x, y in zip(a["layers"],
                                                                          b["layers"]))
    assert demo["accuracy"]["reference_match"] == 1.0
