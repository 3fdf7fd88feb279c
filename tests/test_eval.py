"""Accuracy evaluation: float vs int8 through the reference executor, and `edgemb eval`."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from edgemobilenet.cli import main
from edgemobilenet.data.tensors import ImageTensors
from edgemobilenet.evaluate import evaluate
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.convert import quantize_module
from quant_helpers import fashion, trained_tiny, write_checkpoint


def test_evaluate_counts_float_and_int8():
    model = trained_tiny()
    x, y = fashion(120, train=False, offset=500)
    q = quantize_module(model, fashion(32, train=True)[0])
    res = evaluate(ImageTensors(x, y, []), capture(model, (1, 28, 28)), q, batch_size=50)
    with torch.no_grad():
        logits = model(x)
    assert res["images"] == 120
    assert res["float"]["top1"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    top5 = (logits.topk(5, 1).indices == y[:, None]).any(1).float().mean()
    assert res["float"]["top5"] == pytest.approx(float(top5))
    assert res["agreement"] >= 0.9
    assert abs(res["int8"]["top1"] - res["float"]["top1"]) <= 0.05
    only_int8 = evaluate(ImageTensors(x, y, []), None, q)
    assert set(only_int8) == {"images", "int8"} and only_int8["int8"] == res["int8"]


def _eval_json(*args: str) -> dict:
    res = CliRunner().invoke(main, ["eval", *args, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_eval_cli_json_fields(tmp_path):
    ckpt = write_checkpoint(tmp_path / "m.pt")
    qg = tmp_path / "m.qgraph"
    assert CliRunner().invoke(main, ["quantize", str(ckpt), "--calib", "photos", "--limit", "8",
                                     "--sqnr-images", "0", "-o", str(qg)]).exit_code == 0
    both = _eval_json(str(ckpt), "--data", "fashion-mnist", "--qgraph", str(qg), "--limit", "24")
    assert set(both) == {"images", "float", "int8", "agreement"} and both["images"] == 24
    for key in ("float", "int8"):
        assert set(both[key]) == {"top1", "top5"}
        assert 0.0 <= both[key]["top1"] <= both[key]["top5"] <= 1.0
    alone = _eval_json(str(qg), "--data", "fashion-mnist", "--limit", "24")
    assert set(alone) == {"images", "int8"} and alone["int8"] == both["int8"]
    floats = _eval_json(str(ckpt), "--data", "fashion-mnist", "--limit", "24")
    assert set(floats) == {"images", "float"} and floats["float"] == both["float"]
    on_the_way = _eval_json(str(ckpt), "--data", "fashion-mnist", "--int8", "--calib", "photos",
                            "--calib-limit", "4", "--limit", "8")
    assert set(on_the_way) == {"images", "float", "int8", "agreement"}
