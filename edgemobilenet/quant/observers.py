"""Range observers for activations and the int8 quantization parameters derived from a range.

minmax          the running minimum and maximum
moving-average  exponential moving average of per-batch min/max (TF's QAT observer)
percentile      the 0.01 % and 99.99 % quantiles of a value sample
mse             the clipping range (a shrink of min/max) minimising quantization MSE
"""
from __future__ import annotations

import math

import torch

METHODS = ("minmax", "moving-average", "percentile", "mse")
QMIN, QMAX = -128, 127
_SAMPLE = 1 << 18  # values kept per tensor for the sample-based observers
_SEARCH = 1 << 17  # values the MSE search evaluates


def qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering [lo, hi] with real 0 exactly representable."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return 1.0, 0
    scale = (hi - lo) / (QMAX - QMIN)
    zp = int(round(QMIN - lo / scale))
    return scale, max(QMIN, min(QMAX, zp))


def fake_quant_error(x: torch.Tensor, lo: float, hi: float) -> float:
    """Mean squared error of quantizing x to int8 with the range [lo, hi]."""
    scale, zp = qparams(lo, hi)
    q = torch.clamp(torch.round(x / scale) + zp, QMIN, QMAX)
    return float(((q - zp) * scale - x).pow(2).mean())


class Observer:
    """Accumulates per-batch statistics of one tensor; `range()` gives (lo, hi)."""

    def update(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def range(self) -> tuple[float, float]:
        raise NotImplementedError


class MinMax(Observer):
    def __init__(self) -> None:
        self.lo, self.hi = math.inf, -math.inf

    def update(self, x: torch.Tensor) -> None:
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))

    def range(self) -> tuple[float, float]:
        return self.lo, self.hi


class MovingAverage(Observer):
    def __init__(self, momentum: float = 0.1) -> None:
        self.momentum = momentum
        self.lo: float | None = None
        self.hi = 0.0

    def update(self, x: torch.Tensor) -> None:
        lo, hi = float(x.min()), float(x.max())
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo += self.momentum * (lo - self.lo)
            self.hi += self.momentum * (hi - self.hi)

    def range(self) -> tuple[float, float]:
        return (self.lo if self.lo is not None else math.inf), self.hi


class _Sampled(MinMax):
    """Keeps a uniform random sample of the values seen (plus exact min/max)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.gen = torch.Generator().manual_seed(seed)
        self.parts: list[torch.Tensor] = []
        self.n = 0

    def update(self, x: torch.Tensor) -> None:
        super().update(x)
        flat = x.detach().reshape(-1).float()
        if flat.numel() > _SAMPLE:
            flat = flat[torch.randint(flat.numel(), (_SAMPLE,), generator=self.gen)]
        self.parts.append(flat)
        self.n += flat.numel()
        if self.n > 4 * _SAMPLE:
            allv = torch.cat(self.parts)
            self.parts = [allv[torch.randperm(allv.numel(), generator=self.gen)[:2 * _SAMPLE]]]
            self.n = self.parts[0].numel()

    def sample(self) -> torch.Tensor:
        return torch.cat(self.parts)


class Percentile(_Sampled):
    def __init__(self, pct: float = 99.99) -> None:
        super().__init__()
        self.q = pct / 100.0

    def range(self) -> tuple[float, float]:
        s = self.sample()
        return float(torch.quantile(s, 1 - self.q)), float(torch.quantile(s, self.q))


class MSE(_Sampled):
    def __init__(self, steps: int = 40) -> None:
        super().__init__()
        self.steps = steps

    def range(self) -> tuple[float, float]:
        s = self.sample()
        if s.numel() > _SEARCH:
            s = s[torch.randperm(s.numel(), generator=self.gen)[:_SEARCH]]
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        best = (fake_quant_error(s, lo, hi), lo, hi)
        for i in range(1, self.steps):
            f = 1.0 - 0.9 * i / self.steps
            for a, b in ((lo * f, hi * f), (lo, hi * f), (lo * f, hi)):
                err = fake_quant_error(s, a, b)
                if err < best[0]:
                    best = (err, a, b)
        return best[1], best[2]


def make_observer(method: str) -> Observer:
    if method == "minmax":
        return MinMax()
    if method == "moving-average":
        return MovingAverage()
    if method == "percentile":
        return Percentile()
    if method == "mse":
        return MSE()
    raise ValueError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
