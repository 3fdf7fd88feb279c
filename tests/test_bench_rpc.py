"""`edgemb bench` on a Raspberry Pi 4 build over TVM RPC, against the emulated Pi: the JSON
document has the MCU bench's shape, every output equals the numpy reference, the accuracy
matches the reference executor's recomputed here, memory is the `.so` size, and the latency
label never claims Pi speed for an emulated board. The build comes from `edgemb demo`'s Pi
row (which starts its own emulated board), and a bench of it over `--rpc` on a second board
agrees with the demo's figures."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pi_board import direct_board

from edgemobilenet import bench
from edgemobilenet.demo import run_demo
from edgemobilenet.device.pi_emulator import free_port
from edgemobilenet.device.rpc_runner import EMULATED_LABEL, latency_label
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import reference

EDGEMB = str(Path(sys.executable).parent / "edgemb")
LIMIT, REPEAT = 20, 3


@pytest.fixture(scope="module")
def pi_demo(tmp_path_factory) -> tuple[dict[str, Any], list[str]]:
    """`edgemb demo --pi` without MCU targets: the shipped default model (MobileNetV2 0.35,
    32x32x1) compiled for rpi4 and benched on an emulated board it starts itself."""
    steps: list[str] = []
    res = run_demo(tmp_path_factory.mktemp("demo"), targets=(), limit=LIMIT, calib_count=32,
                   repeat=REPEAT, pi=True, step=steps.append)
    return res, steps


def _edgemb(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEMB, *args], capture_output=True, text=True, timeout=timeout)


def _check_latency(lat: dict[str, Any], kernels: list[dict[str, Any]]) -> None:
    assert lat["unit"] == "ns" and lat["runs"] == REPEAT
    assert 0 < lat["ms_min"] <= lat["ms_median"] <= lat["ms_p90"] <= lat["ms_max"]
    assert lat["ms_median"] == pytest.approx(lat["median"] * 1e-6)
    # one row per fused kernel (all its calls), each timed alone on the board
    assert [r["name"] for r in lat["layers"]] == [f"{k['name']} (x{k['calls']})"
                                                  for k in kernels]
    assert all(r["median"] > 0 for r in lat["layers"])
    assert sum(r["median"] for r in lat["layers"]) == pytest.approx(lat["layers_total"], abs=60)
    assert any("per kernel, not per layer" in n for n in lat["notes"])


@pytest.mark.slow  # about 60 s: two emulated board starts, TVM compile, 46 runs emulated
def test_demo_pi_row_and_bench_over_rpc(pi_demo, tmp_path: Path) -> None:
    res, steps = pi_demo
    (demo,) = res["results"]
    build_dir = Path(demo["build"])
    assert any("starting the emulated rpi4" in s for s in steps)
    assert Path(res["reports"][0]).is_file()
    man = json.loads((build_dir / "manifest.json").read_text())
    assert sum(k["calls"] for k in man["kernels"]) >= man["nodes"] // 2
    assert (build_dir / man["kernel_library"]).is_file()
    _check_latency(demo["latency"], man["kernels"])
    assert demo["latency"]["emulated"] is True and demo["latency"]["unit_label"] == EMULATED_LABEL

    board = direct_board()
    html = tmp_path / "report.html"
    r = _edgemb("bench", str(build_dir), "--rpc", f"{board.host}:{board.port}", "--data",
                "fashion-mnist", "--limit", str(LIMIT), "--repeat", str(REPEAT), "--json",
                "--report", str(html))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["target"] == "rpi4" and doc["model_hash"] == man["model_hash"]
    assert str(board.port) in doc["transport"]
    lat, acc, mem = doc["latency"], doc["accuracy"], doc["memory"]
    # latency: times on the board; qemu-user shows the host's /proc/cpuinfo, so LLVM on the
    # board detects no Cortex-A72 and the label must not claim Pi speed
    _check_latency(lat, man["kernels"])
    assert lat["board_cpu"] != "cortex-a72" and lat["emulated"] is None
    assert "not rpi4 speed" in lat["unit_label"]
    # accuracy: every output bit-identical; the int8 top-1 recomputed independently
    assert acc["images"] == LIMIT and acc["compared"] == LIMIT + REPEAT
    assert acc["reference_match"] == 1.0 and acc["first_mismatch"] is None
    build = bench.load_build(build_dir)
    images = bench.load_images(build, "fashion-mnist", LIMIT)
    g = build.graph
    scores = np.stack([reference.run(g, x[None])[g.outputs[0]].reshape(-1) for x in images.x])
    top1 = float(np.mean(scores.argmax(1) == images.labels))
    assert acc["int8_top1"] == pytest.approx(top1) and acc["device_top1"] == pytest.approx(top1)
    assert acc["float_top1"] is not None
    # memory: the library, no MCU figures
    assert mem["library_bytes"] == (build_dir / "model.so").stat().st_size
    assert mem["flash_bytes"] is None and mem["stack_high_water"] is None
    # the demo's row: the same figures as this direct bench
    assert (demo["accuracy"], demo["memory"]) == (acc, mem)
    text = html.read_text()
    assert "shared library (.so)" in text and "not rpi4 speed" in text


def test_latency_labels() -> None:
    assert latency_label("rpi4", "cortex-a72", True, "cortex-a72") == (EMULATED_LABEL, True)
    label, emulated = latency_label("rpi4", "cortex-a72", False, "cortex-a72")
    assert emulated is False and "on the board" in label
    label, emulated = latency_label("rpi4", "cortex-a72", False, "generic")
    assert emulated is None and "'generic'" in label and "not rpi4 speed" in label
    assert latency_label("rpi4", "cortex-a72", False, None)[1] is None


def test_linux_build_errors(pi_demo) -> None:
    build_dir = pi_demo[0]["results"][0]["build"]
    for kw, msg in (({"port": "/dev/null"}, "not --port"),
                    ({"rpc": f"127.0.0.1:{free_port()}"}, "cannot connect"),
                    ({"rpc": "nowhere"}, "expected HOST:PORT"),
                    ({"tracker": "127.0.0.1:1"}, "needs --key")):
        with pytest.raises(EdgembError, match=msg):
            bench.measure(build_dir, **kw)
