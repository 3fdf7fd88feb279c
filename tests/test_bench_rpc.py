"""`edgemb bench` on a Raspberry Pi 4 build over TVM RPC, against the emulated Pi: the JSON
document has the MCU bench's shape, every output equals the numpy reference, the accuracy
matches the reference executor's recomputed here, memory is the `.so` size, and the latency
label does not claim Pi speed for a board that reports another CPU."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pi_board import direct_board

from edgemobilenet import bench
from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.device.pi_emulator import free_port
from edgemobilenet.device.rpc_runner import EMULATED_LABEL, latency_label
from edgemobilenet.errors import EdgembError
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.quant import reference

EDGEMB = str(Path(sys.executable).parent / "edgemb")
LIMIT, REPEAT = 20, 3


@pytest.fixture(scope="module")
def pi_build(tmp_path_factory) -> Path:
    """The shipped default model (MobileNetV2 0.35, 32x32x1) compiled for rpi4."""
    g = load_qgraph("default", ModelOptions(calib="fashion-mnist", calib_count=32))
    out = tmp_path_factory.mktemp("rpi4") / "build"
    compile_linux(g, "rpi4", out)
    return out


def _edgemb(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEMB, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # about 40 s: board start (shared per session) and 23 runs emulated
def test_bench_rpi4_over_rpc(pi_build: Path, tmp_path: Path) -> None:
    board = direct_board()
    html = tmp_path / "report.html"
    r = _edgemb("bench", str(pi_build), "--rpc", f"{board.host}:{board.port}", "--data",
                "fashion-mnist", "--limit", str(LIMIT), "--repeat", str(REPEAT), "--json",
                "--report", str(html))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    man = json.loads((pi_build / "manifest.json").read_text())
    assert doc["target"] == "rpi4" and doc["model_hash"] == man["model_hash"]
    assert str(board.port) in doc["transport"]
    lat, acc, mem = doc["latency"], doc["accuracy"], doc["memory"]
    # latency: times on the board; qemu-user shows the host's /proc/cpuinfo, so LLVM on the
    # board detects no Cortex-A72 and the label must not claim Pi speed
    assert lat["unit"] == "ns" and lat["runs"] == REPEAT
    assert 0 < lat["ms_min"] <= lat["ms_median"] <= lat["ms_p90"] <= lat["ms_max"]
    assert lat["ms_median"] == pytest.approx(lat["median"] * 1e-6)
    assert lat["board_cpu"] != "cortex-a72" and lat["emulated"] is None
    assert "not rpi4 speed" in lat["unit_label"]
    assert "layers" not in lat and any("per-layer" in n for n in lat["notes"])
    # accuracy: every output bit-identical; the int8 top-1 recomputed independently
    assert acc["images"] == LIMIT and acc["compared"] == LIMIT + REPEAT
    assert acc["reference_match"] == 1.0 and acc["first_mismatch"] is None
    build = bench.load_build(pi_build)
    images = bench.load_images(build, "fashion-mnist", LIMIT)
    g = build.graph
    scores = np.stack([reference.run(g, x[None])[g.outputs[0]].reshape(-1) for x in images.x])
    top1 = float(np.mean(scores.argmax(1) == images.labels))
    assert acc["int8_top1"] == pytest.approx(top1) and acc["device_top1"] == pytest.approx(top1)
    assert acc["float_top1"] is not None
    # memory: the library, no MCU figures
    assert mem["library_bytes"] == (pi_build / "model.so").stat().st_size
    assert mem["flash_bytes"] is None and mem["stack_high_water"] is None
    text = html.read_text()
    assert "shared library (.so)" in text and "not rpi4 speed" in text


def test_latency_labels() -> None:
    assert latency_label("rpi4", "cortex-a72", True, "cortex-a72") == (EMULATED_LABEL, True)
    label, emulated = latency_label("rpi4", "cortex-a72", False, "cortex-a72")
    assert emulated is False and "on the board" in label
    label, emulated = latency_label("rpi4", "cortex-a72", False, "generic")
    assert emulated is None and "'generic'" in label and "not rpi4 speed" in label
    assert latency_label("rpi4", "cortex-a72", False, None)[1] is None


def test_linux_build_errors(pi_build: Path) -> None:
    for kw, msg in (({"port": "/dev/null"}, "not --port"),
                    ({"rpc": f"127.0.0.1:{free_port()}"}, "cannot connect"),
                    ({"rpc": "nowhere"}, "expected HOST:PORT"),
                    ({"tracker": "127.0.0.1:1"}, "needs --key")):
        with pytest.raises(EdgembError, match=msg):
            bench.measure(pi_build, **kw)
