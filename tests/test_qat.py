"""Quantization-aware training: fake quantization simulates the int8 graph; one short epoch."""
from __future__ import annotations

import json

import numpy as np
import torch
from click.testing import CliRunner

from edgemobilenet.cli import main
from edgemobilenet.quant import qgraph

from edgemobilenet.evaluate import int8_logits
from edgemobilenet.quant.calibrate import batched, calibrate
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.convert import convert
from edgemobilenet.quant.qat import FakeQuantGraph, train_qat
from edgemobilenet.quant.sqnr import sqnr_db
from quant_helpers import fashion, trained_tiny, write_checkpoint


def _setup():
    g = capture(trained_tiny(), (1, 28, 28))
    calib, _ = fashion(64, train=True, offset=20_000)
    return g, calibrate(g, batched(calib, 32), "minmax")


def test_fake_quant_forward_matches_int8_graph():
    g, ranges = _setup()
    fq = FakeQuantGraph(g, ranges).eval()
    x, _ = fashion(16, train=False)
    with torch.no_grad():
        sim = fq(x).numpy()
        flt = trained_tiny()(x).numpy()
    q = convert(g, ranges)
    real = int8_logits(q, x)
    # the simulation is much closer to the integer graph than float is
    assert sqnr_db(real, sim) > sqnr_db(real, flt) + 3.0
    assert sqnr_db(real, sim) > 30.0


def test_qat_one_short_epoch_produces_valid_qgraph():
    g, ranges = _setup()
    x, y = fashion(256, train=True, offset=30_000)

    def epoch_batches(epoch):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        return ((x[i], y[i]) for i in order.split(32))

    seen = []
    g2, ranges2 = train_qat(g, ranges, epoch_batches, epochs=1, steps_per_epoch=8, lr=1e-3,
                            progress=lambda e, s, n, loss: seen.append((s, loss)))
    assert [s for s, _ in seen] == list(range(1, 9)) and all(np.isfinite(l) for _, l in seen)
    changed = [n for n in g2.nodes if "weight" in n.params and
               not torch.equal(n.params["weight"], g.node(n.name).params["weight"])]
    assert len(changed) >= 4
    assert set(ranges2) <= set(ranges) and ranges2["stem.0"] != ranges["stem.0"]
    q = convert(g2, ranges2, meta={"method": "qat"})
    tx, labels = fashion(100, train=False)
    with torch.no_grad():
        acc_float = float((trained_tiny()(tx).argmax(1) == labels).float().mean())
    acc_int8 = float((torch.from_numpy(int8_logits(q, tx)).argmax(1) == labels).float().mean())
    assert acc_int8 > acc_float - 0.1, (acc_int8, acc_float)


def test_quantize_cli_qat(tmp_path):
    ckpt = write_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "qat.qgraph"
    res = CliRunner().invoke(main, [
        "quantize", str(ckpt), "--calib", "photos", "--limit", "8", "--qat", "--epochs", "1",
        "--data", "fashion-mnist", "--train-limit", "64", "--batch-size", "32",
        "--sqnr-images", "1", "-o", str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    q = qgraph.load(out)
    assert q.meta["method"] == "qat (percentile init)" == doc["method"] and q.meta["qat_epochs"] == 1
    assert any(r["sqnr_db"] is not None for r in doc["layers"])
