"""`edgemb quantize`: writes loadable .qgraph files from checkpoints and ONNX; clean errors."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.models import build
from edgemobilenet.quant import qgraph
from quant_helpers import randomize_bn, write_checkpoint

EDGEMB = str(Path(sys.executable).parent / "edgemb")
ZOO = ["--width", "0.35", "--resolution", "32", "--num-classes", "10"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.pt")


def _invoke(*args: str) -> dict:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_quantize_checkpoint_writes_loadable_qgraph(checkpoint, tmp_path):
    out = tmp_path / "m.qgraph"
    doc = _invoke("quantize", str(checkpoint), "--calib", "fashion-mnist", "--limit", "16",
                  "--method", "percentile", "--sqnr-images", "2", "-o", str(out), "--json")
    q = qgraph.load(out)
    assert q.meta["arch"] == "mobilenet_v2" and q.meta["method"] == "percentile"
    assert q.meta["preprocess"]["crop"] == 32 and q.meta["source"] == str(checkpoint)
    assert q.tensors["input"].shape == (1, 32, 32, 1)
    assert [r["layer"] for r in doc["layers"]] == [n.name for n in q.nodes]
    conv_db = [r["sqnr_db"] for r in doc["layers"] if r["op"] == "conv2d"]
    assert all(v is not None and v > 10 for v in conv_db), conv_db
    assert doc["calibration"] == "16 images of fashion-mnist"


def test_quantize_onnx_with_photos_table(tmp_path):
    model = randomize_bn(build("mobilenet_v3_small", width=0.35, resolution=32, num_classes=4))
    onnx_path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(onnx_path), dynamo=False)
    out = tmp_path / "m.qgraph"
    res = CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["quantize", str(onnx_path), "--calib", "photos", "--limit", "8",
               "--sqnr-images", "1", "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "SQNR dB" in res.output and "lut hardswish" in res.output and "wrote" in res.output
    q = qgraph.load(out)
    assert q.meta["source"] == str(onnx_path) and q.meta["calibration"].startswith("8 crops")
    assert {"lut", "mul", "add"} <= {n.op for n in q.nodes}


def test_quantize_without_calib_warns(tmp_path):
    out = tmp_path / "r.qgraph"
    res = CliRunner().invoke(main, ["quantize", "mobilenet_v1", *ZOO, "--limit", "2",
                                    "--sqnr-images", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "meaningless" in res.output
    assert qgraph.load(out).meta["calibration"] == "2 random inputs"


def test_quantize_error_is_one_line(tmp_path):
    res = subprocess.run([EDGEMB, "quantize", "missing.pt", "-o", str(tmp_path / "x.qgraph")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: missing.pt"), res.stderr


@pytest.mark.parametrize("args, message", [
    (["mobilenet_v2", *ZOO, "--calib", "/nonexistent/dir"], "/nonexistent/dir"),
    (["mobilenet_v2", *ZOO, "--qat"], "--qat needs --data"),
    (["mobilenet_v2", *ZOO, "--limit", "0"], "--limit must be >= 1"),
])
def test_quantize_bad_inputs_raise_edgemb_error(tmp_path, args, message):
    res = CliRunner().invoke(main, ["quantize", *args, "-o", str(tmp_path / "x.qgraph")])
    assert isinstance(res.exception, EdgembError) and message in str(res.exception)
    assert "\n" not in str(res.exception)
    assert not (tmp_path / "x.qgraph").exists()
