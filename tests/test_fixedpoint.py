"""Fixed-point helpers against hand-computed values and a scalar transcription of OPS.md."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgemobilenet.quant.fixedpoint import (INT32_MAX, INT32_MIN, mbqm, quantize_multiplier,
                                            quantize_multipliers, round_div_away,
                                            rounding_divide_by_pot, srdhm)

M_HALF = 1 << 30  # multiplier 0.5


@pytest.mark.parametrize("a,b,want", [
    (INT32_MIN, INT32_MIN, INT32_MAX),          # the one saturating case
    (INT32_MIN, INT32_MAX, -INT32_MAX),         # -2^31 * (2^31-1) / 2^31, exact -> no saturation
    (INT32_MAX, INT32_MAX, INT32_MAX - 1),      # (2^31-1)^2 / 2^31 = 2^31 - 2 + tiny
    (M_HALF, M_HALF, 1 << 29),
    (3, M_HALF, 2),                             # +1.5 rounds up
    (-3, M_HALF, -1),                           # -1.5: the negative nudge rounds toward zero
    (-5, M_HALF, -2),                           # -2.5 -> -2
    (-5, M_HALF + 1, -3),                       # just below -2.5 -> -3
    (1000, 1518500250, 707),                    # 1000 / sqrt(2) = 707.107
    (-1000, 1518500250, -707),
    (0, INT32_MIN, 0),
])
def test_srdhm(a, b, want):
    assert int(srdhm(np.int64(a), np.int64(b))) == want


@pytest.mark.parametrize("x,e,want", [
    (3, 1, 2), (-3, 1, -2),                     # +-1.5: half away from zero
    (5, 1, 3), (-5, 1, -3),                     # +-2.5
    (-5, 2, -1), (-6, 2, -2), (-7, 2, -2),      # -1.25, -1.5, -1.75
    (6, 2, 2), (5, 2, 1),
    (12345, 0, 12345), (-12345, 0, -12345),
    (1 << 30, 31, 1), (-(1 << 30), 31, -1),     # +-0.5 at the largest exponent
    (INT32_MIN, 31, -1), (INT32_MAX, 31, 1), (0, 31, 0),
])
def test_rounding_divide_by_pot(x, e, want):
    assert int(rounding_divide_by_pot(np.int64(x), e)) == want


@pytest.mark.parametrize("x,m,shift,want", [
    (100, M_HALF, 0, 50),
    (100, M_HALF, -3, 6),                       # 6.25
    (-100, M_HALF, -2, -13),                    # -12.5 -> away from zero
    (3, M_HALF, 2, 6),                          # left shift: 3 * 4 * 0.5
    (-7, 1610612736, 3, -42),                   # -7 * 8 * 0.75
    (1 << 29, M_HALF, 3, 0),                    # 2^29 << 3 wraps to 0 in int32
    (1000, 1518500250, -5, 22),                 # 707 / 32 = 22.1
    (-1000, 1518500250, -5, -22),
    (INT32_MAX, INT32_MAX, 0, INT32_MAX - 1),
])
def test_mbqm(x, m, shift, want):
    assert int(mbqm(np.int64(x), m, shift)) == want


def test_mbqm_per_channel_broadcast():
    acc = np.array([[100, 100, -100], [7, -7, 0]], dtype=np.int64)  # -7 * 0.5 / 8 = -0.44 -> 0
    m = np.array([M_HALF, M_HALF, 1610612736], dtype=np.int32)
    s = np.array([0, -3, 1], dtype=np.int32)
    np.testing.assert_array_equal(mbqm(acc, m, s), [[50, 6, -150], [4, 0, 0]])


@pytest.mark.parametrize("real,want", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (1610612736, 0)),
    (2.0, (1 << 30, 2)),
    (3.0, (1610612736, 2)),
    (1 - 2.0 ** -40, (1 << 30, 1)),             # rounds up to 2^31: renormalised
    (2.0 ** -32, (1 << 30, -31)),               # smallest representable
    (1e-12, (0, 0)),                            # below 2^-32: flushed to zero
])
def test_quantize_multiplier_cases(real, want):
    assert quantize_multiplier(real) == want


def test_quantize_multiplier_rejects():
    with pytest.raises(ValueError):
        quantize_multiplier(-0.1)
    with pytest.raises(ValueError):
        quantize_multiplier(2.0 ** 31)


def test_quantize_multiplier_accuracy(rng):
    reals = np.exp(rng.uniform(math.log(1e-6), math.log(1e4), 2000))
    m, s = quantize_multipliers(reals)
    assert m.dtype == np.int32 and s.dtype == np.int32
    assert np.all((m >= 1 << 30) & (m <= INT32_MAX))
    approx = m.astype(np.float64) * np.exp2(s.astype(np.float64) - 31)
    assert np.max(np.abs(approx / reals - 1)) <= 2.0 ** -31


# -- scalar transcription of the OPS.md pseudo-code (Python ints) ---------------------------
def _srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    num = ab + ((1 << 30) if ab >= 0 else (1 - (1 << 30)))
    q = abs(num) >> 31                          # C division truncates toward zero
    return q if num >= 0 else -q


def _rdivpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > threshold else 0)


def _wrap(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _mbqm(x: int, m: int, shift: int) -> int:
    return _rdivpot(_srdhm(_wrap(x * (1 << max(shift, 0))), m), max(-shift, 0))


def test_vectorised_helpers_match_scalar_spec(rng):
    edge = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]
    x = np.concatenate([edge, rng.integers(INT32_MIN, INT32_MAX, 3000, endpoint=True),
                        rng.integers(-70000, 70000, 3000)]).astype(np.int64)
    m = np.concatenate([edge[::-1], rng.integers(1 << 30, INT32_MAX, 6000, endpoint=True)]).astype(np.int64)
    shift = rng.integers(-31, 8, x.size)
    e = rng.integers(0, 32, x.size)
    got_s, got_r, got_m = srdhm(x, m), rounding_divide_by_pot(x, e), mbqm(x, m, shift)
    for i in range(x.size):
        xi, mi = int(x[i]), int(m[i])
        assert got_s[i] == _srdhm(xi, mi), (xi, mi)
        assert got_r[i] == _rdivpot(xi, int(e[i])), (xi, int(e[i]))
        assert got_m[i] == _mbqm(xi, mi, int(shift[i])), (xi, mi, int(shift[i]))


@pytest.mark.parametrize("s,count,want", [
    (7, 2, 4), (-7, 2, -4), (5, 2, 3), (-5, 2, -3),   # halves away from zero
    (10, 4, 3), (-10, 4, -3), (9, 4, 2), (-9, 4, -2), (0, 9, 0), (-1, 49, 0), (-25, 49, -1),
])
def test_round_div_away(s, count, want):
    assert int(round_div_away(np.int64(s), count)) == want
