"""`edgemb bench` in QEMU on two emulated targets (M4 and M55): JSON fields, bit-exactness
against the reference executor, accuracy figures recomputed independently, and the error
cases (bad build, bad or busy or silent port, empty or wrong-size data), never leaving QEMU
running."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import serial

from bench_builds import CALIB, LIMIT, REPEAT, TARGETS, bench_doc, build_dir
from dummy_firmware import dummy_elf  # noqa: F401 (fixture)
from edgemobilenet import bench
from edgemobilenet.errors import EdgembError
from edgemobilenet.data.tensors import limit_dataset
from edgemobilenet.evaluate import evaluate
from edgemobilenet.quant import qgraph

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")

EDGEMB = str(Path(sys.executable).parent / "edgemb")


def _qemu_running(path: Path) -> list[int]:
    """PIDs of QEMU processes started on a firmware under `path`."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"qemu-system-arm") and any(
                str(path).encode() in a for a in cmd):
            pids.append(int(p.name))
    return pids


def _edgemb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEMB, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("target", TARGETS)
def test_bench_on_emulated_target(target: str) -> None:
    doc = bench_doc(target)
    man = json.loads((build_dir(target) / "manifest.json").read_text())
    assert doc["target"] == target and doc["model_hash"] == man["model_hash"]
    lat, acc, mem = doc["latency"], doc["accuracy"], doc["memory"]
    # latency: emulated instruction counts, per-layer rows that add up to the whole
    assert lat["unit"] == "instructions" and "not cycles" in lat["unit_label"]
    assert lat["runs"] == REPEAT and lat["ms_median"] is None
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
    assert [r["index"] for r in lat["layers"]] == [r["index"] for r in man["layers"]]
    # medians over images: for data-dependent kernels the sum of per-layer medians may pass
    # the median of the totals by a little (a run's own layers never exceed its total)
    assert 0.8 * lat["median"] <= lat["layers_total"] <= 1.001 * lat["median"]
    assert all(r["median"] > 0 for r in lat["layers"] if r["macs"] > 0)
    # estimated cycles (cm_cycles plugin) beside the instructions: M4 / M7 only
    est = lat.get("estimate")
    if man["target"] == "mps2-an386":
        assert "not a measurement" in est["label"] and est["cpu"] == "cortex-m4"
        assert abs(est["instructions"] - lat["median"]) <= 200   # same run, SysTick-exact
        assert sum(est["instruction_mix"].values()) == est["instructions"]
        assert est["cycles_low"] <= est["cycles"] <= est["cycles_high"]
        assert est["instructions"] <= est["cycles_high"]
        assert est["ms"] == pytest.approx(1e3 * est["cycles"] / est["clock_hz"])
        rows = lat["layers"]
        assert all(r["est_cycles_low"] <= r["est_cycles"] <= r["est_cycles_high"] for r in rows)
        assert 0.8 * est["cycles"] <= sum(r["est_cycles"] for r in rows) <= est["cycles"]
    else:
        assert est is None
    # accuracy: bit-exact device, and int8 top-1 equal to `edgemb eval`'s reference figure
    assert acc["reference_match"] == 1.0 and acc["first_mismatch"] is None
    assert acc["compared"] == LIMIT + REPEAT and acc["images"] == LIMIT
    assert acc["device_top1"] == acc["int8_top1"] and acc["device_top5"] == acc["int8_top5"]
    g = qgraph.load(build_dir(target) / "model.qgraph")
    from edgemobilenet.data import open_dataset
    ds = limit_dataset(open_dataset("fashion-mnist", train=False,
                                    preprocess=g.meta["preprocess"], in_channels=1), LIMIT)
    ref = evaluate(ds, q=g)["int8"]
    assert (acc["int8_top1"], acc["int8_top5"]) == (ref["top1"], ref["top5"])
    assert acc["float_top1"] is not None and 0 <= acc["float_top1"] <= 1
    # memory: manifest figures and a stack high-water inside the reserved stack
    for k in ("flash_bytes", "sram_bytes", "arena_bytes", "stack_bytes"):
        assert mem[k] == man[k]
    assert 0 < mem["stack_high_water"] <= man["stack_bytes"]
    assert g.meta["calibration"] == f"{CALIB} images of fashion-mnist"


def test_bench_cli_json_random_inputs() -> None:
    """Without data: random inputs, reference match over them, no top-1 figures."""
    target = TARGETS[0]
    r = _edgemb("bench", str(build_dir(target)), "--emulate", "--repeat", "2", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) >= {"target", "latency", "accuracy", "memory"}
    assert doc["accuracy"]["reference_match"] == 1.0 and doc["accuracy"]["compared"] == 2
    assert doc["accuracy"]["images"] == 0 and "device_top1" not in doc["accuracy"]
    assert doc["latency"]["median"] > 0 and doc["memory"]["stack_high_water"] > 0
    assert not _qemu_running(build_dir(target))


def test_mismatch_names_first_differing_layer() -> None:
    """A runner whose layer 2 output is corrupted: the report names layer 2."""
    b = bench.load_build(build_dir(TARGETS[0]))
    from edgemobilenet.quant import reference

    class Corrupt:
        transport, unit, ms_per_tick = "test", "instructions", None

        def _all(self, x):
            return reference.run(b.graph, x[None], keep_all=True)

        def run(self, x):
            y = self._all(x)[b.graph.outputs[0]].copy()
            y.flat[0] ^= 1
            return y, 1

        def layer_profile(self):
            return None

        def outputs(self, xs, progress=None):
            return np.stack([self.run(x)[0] for x in xs])

        def layer_output(self, x, i):
            v = self._all(x)[b.graph.nodes[i].outputs[0]].copy()
            if i >= 2:
                v.flat[0] ^= 1
            return v

        def stack_high_water(self):
            return None

    doc = bench.run_bench(b, Corrupt(), repeat=2)
    acc = doc["accuracy"]
    assert acc["reference_match"] == 0.0
    assert acc["first_mismatch"]["index"] == 2 and "layer 2" in acc["first_mismatch"]["text"]


def _error(*args: str) -> str:
    r = _edgemb(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_error_build_without_manifest(tmp_path: Path) -> None:
    assert "no manifest.json" in _error("bench", str(tmp_path), "--emulate")


def test_error_missing_port() -> None:
    with pytest.raises(EdgembError, match="/dev/ttyEDGEMB-none: cannot open: no such port"):
        bench.measure(build_dir(TARGETS[0]), port="/dev/ttyEDGEMB-none")


def test_error_busy_and_silent_port() -> None:
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        with pytest.raises(EdgembError, match=f"{name}: device did not answer"):
            bench.measure(build_dir(TARGETS[0]), port=name, timeout=0.2)
        with serial.Serial(name, exclusive=True):
            with pytest.raises(EdgembError, match="busy"):
                bench.measure(build_dir(TARGETS[0]), port=name)
    finally:
        os.close(master)
        os.close(slave)


def test_error_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "data" / "test" / "shirt").mkdir(parents=True)
    with pytest.raises(EdgembError, match="no images found"):
        bench.measure(build_dir(TARGETS[0]), emulate=True, data=str(tmp_path / "data"))
    assert not _qemu_running(build_dir(TARGETS[0]))


def test_error_wrong_image_size(tmp_path: Path) -> None:
    """A model whose preprocessing crops 28 px for a 32 px input: refused before QEMU."""
    src = build_dir(TARGETS[0])
    dst = tmp_path / "build"
    shutil.copytree(src, dst)
    g = qgraph.load(dst / "model.qgraph")
    g.meta["preprocess"] = {**g.meta["preprocess"], "resize": 28, "crop": 28}
    qgraph.save(g, dst / "model.qgraph")
    man = json.loads((dst / "manifest.json").read_text())
    man["model_hash"] = g.digest()
    (dst / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(EdgembError, match="images are 1x28x28 .* the model takes 1x32x32"):
        bench.measure(dst, emulate=True, data="fashion-mnist", limit=2)
    assert not _qemu_running(dst)


def test_error_device_runs_another_model(tmp_path: Path, dummy_elf) -> None:
    """The build's manifest with another model's firmware: refused by hash, QEMU stopped."""
    dst = tmp_path / "build"
    shutil.copytree(build_dir(TARGETS[0]), dst)
    shutil.copy(dummy_elf(TARGETS[0]), dst / "firmware.elf")
    line = _error("bench", str(dst), "--emulate")
    assert "device runs model d0d0d0d0d0d0" in line and "flash the matching firmware" in line
    assert not _qemu_running(dst)


def test_transport_must_be_chosen_once() -> None:
    b = bench.load_build(build_dir(TARGETS[0]))
    with pytest.raises(EdgembError, match="exactly one"):
        with bench.open_runner(b):
            pass
    with pytest.raises(EdgembError, match="exactly one"):
        with bench.open_runner(b, port="/dev/null", emulate=True):
            pass
