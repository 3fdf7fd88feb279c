"""Observers and calibration: ranges, clipping methods, int8 parameters."""
from __future__ import annotations

import pytest
import torch

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.calibrate import batched, calibrate
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.observers import METHODS, fake_quant_error, make_observer, qparams
from quant_helpers import TinyNet, randomize_bn


@pytest.mark.parametrize("lo, hi", [(-1.3, 2.7), (0.0, 6.0), (-5.0, -1.0), (0.3, 0.9)])
def test_qparams_represent_zero_exactly(lo, hi):
    scale, zp = qparams(lo, hi)
    assert -128 <= zp <= 127
    assert min(lo, 0.0) >= scale * (-128 - zp) - scale / 2
    assert max(hi, 0.0) <= scale * (127 - zp) + scale / 2
    if lo == 0.0:
        assert zp == -128


def _heavy_tailed(n: int = 200_000) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.distributions.StudentT(2.0).sample((n,))  # long tails, like activations


def test_minmax_and_moving_average():
    mm, ema = make_observer("minmax"), make_observer("moving-average")
    for v in ([-1.0, 2.0], [-3.0, 1.0], [0.0, 0.5]):
        mm.update(torch.tensor(v))
        ema.update(torch.tensor(v))
    assert mm.range() == (-3.0, 2.0)
    lo, hi = ema.range()
    assert -3.0 < lo < -1.0 and 0.5 < hi < 2.0


def test_percentile_and_mse_clip_outliers():
    x = _heavy_tailed()
    ranges = {}
    for method in METHODS:
        obs = make_observer(method)
        for part in x.split(50_000):
            obs.update(part)
        ranges[method] = obs.range()
    assert ranges["minmax"] == (float(x.min()), float(x.max()))
    for method in ("percentile", "mse"):
        assert ranges["minmax"][0] < ranges[method][0] < ranges[method][1] < ranges["minmax"][1]
    assert fake_quant_error(x, *ranges["mse"]) < 0.9 * fake_quant_error(x, *ranges["minmax"])


def test_calibrate_records_every_tensor_and_reports_progress():
    model = randomize_bn(TinyNet())
    g = capture(model, (1, 28, 28))
    x = torch.randn(10, 1, 28, 28)
    seen = []
    ranges = calibrate(g, batched(x, 4), "minmax", progress=seen.append)
    assert seen == [4, 8, 10]
    assert set(ranges) == set(g.tensors())
    assert ranges["input"] == (float(x.min()), float(x.max()))
    assert ranges["stem.0"][0] >= 0.0 and ranges["stem.0"][1] <= 6.0   # fused ReLU6
    with pytest.raises(EdgembError, match="expects"):
        calibrate(g, [torch.randn(2, 3, 28, 28)])
    with pytest.raises(ValueError, match="unknown calibration method"):
        make_observer("kl")
