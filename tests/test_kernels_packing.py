"""Offline weight layouts of the Cortex-M kernel variants (backends/mcu/packing.py): every
packed array is a permutation of the weights plus zero padding, at the positions its docstring
gives (the C kernels read exactly those)."""
from __future__ import annotations

import numpy as np
import pytest

from edgemobilenet.backends.mcu import packing
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QNode


def _n(op: str, **attrs: int) -> QNode:
    """A node of `op` with `attrs` (packing reads only the op and its typed attributes)."""
    return QNode("layer", op, ["x"], ["y"], attrs)


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int8)


def test_portable_is_identity_and_unknown_variant_fails():
    rng = np.random.default_rng(0)
    w = _w(rng, 6, 3, 3, 5)
    np.testing.assert_array_equal(packing.pack_weights(_n("conv2d"), w, "portable"), w)
    with pytest.raises(EdgembError, match="unknown kernel variant"):
        packing.pack_weights(_n("conv2d"), w, "neon")


@pytest.mark.parametrize("variant", ["dsp", "mve"])
def test_depthwise_becomes_khkwc(variant):
    w = _w(np.random.default_rng(1), 12, 3, 3, 1)
    got = packing.pack_weights(_n("conv2d", groups=12), w, variant)
    assert got.shape == (3, 3, 12)
    for c in range(12):
        np.testing.assert_array_equal(got[:, :, c], w[c, :, :, 0])


@pytest.mark.parametrize("oc,k", [(8, 64), (11, 40), (4, 13), (5, 16)])
def test_mve_pointwise_blocks(oc, k):
    w = _w(np.random.default_rng(k), oc, 1, 1, k)
    got = packing.pack_weights(_n("conv2d", groups=1), w, "mve")
    oc4, full, t = -(-oc // 4) * 4, k // 16 * 16, k % 16
    assert got.shape == (oc4 * k,)
    for o in range(oc4):
        block = (o // 4) * 4 * k
        for kk in range(k):
            if kk < full:
                idx = block + 64 * (kk // 16) + 16 * (o % 4) + kk % 16
            else:
                idx = block + 4 * full + t * (o % 4) + kk - full
            assert got[idx] == (w[o, 0, 0, kk] if o < oc else 0), (o, kk)


def test_mve_fc_and_small_conv_use_the_block_layout():
    rng = np.random.default_rng(2)
    fc = _w(rng, 10, 40)
    conv1 = _w(rng, 8, 3, 3, 6)   # kernel rows of 18 bytes: not mve_rows
    np.testing.assert_array_equal(packing.pack_weights(_n("fully_connected"), fc, "mve"),
                                  packing._interleave4(fc))
    np.testing.assert_array_equal(packing.pack_weights(_n("conv2d", groups=1), conv1, "mve"),
                                  packing._interleave4(conv1.reshape(8, 54)))
    big = _w(rng, 8, 3, 3, 64)   # K = 576: general path, OHWI
    np.testing.assert_array_equal(packing.pack_weights(_n("conv2d", groups=1), big, "mve"), big)


@pytest.mark.parametrize("shape,r", [((8, 3, 3, 1), 4), ((6, 3, 2, 2), 4), ((8, 3, 3, 3), 16),
                                     ((5, 2, 2, 8), 16)])
def test_mve_rows_layout(shape, r):
    """mve_rows: per block of 4 output channels, nv vectors of 16 bytes per channel; byte
    r * kh + j of the window (kernel row kh, byte j) at vector (r kh + j) // 16."""
    w = _w(np.random.default_rng(3), *shape)
    got = packing.pack_weights(_n("conv2d", groups=1), w, "mve")
    oc, kh_n, row = shape[0], shape[1], shape[2] * shape[3]
    nv = 1 if r == 4 else 3
    assert got.shape == (-(-oc // 4) * 4 * 16 * nv,)
    for o in range(-(-oc // 4) * 4):
        for b in range(16 * nv):
            kh, j = divmod(b, r)
            want = w[o, kh].reshape(-1)[j] if o < oc and kh < kh_n and j < row else 0
            idx = (o // 4) * 64 * nv + 64 * (b // 16) + 16 * (o % 4) + b % 16
            assert got[idx] == want, (o, b)


def _w16_value(got: np.ndarray, k4: int, o: int, kk: int) -> int:
    """The int16 at output channel o, value kk of the dsp w16 layout (docstring positions)."""
    word = ((o // 2) * (k4 // 4) + kk // 4) * 4 + (o % 2) * 2 + kk % 2
    return int(got.view("<i2")[2 * word + (kk % 4) // 2])


@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (7, 3, 2, 2), (7, 1, 1, 12), (16, 1, 1, 8)])
def test_dsp_w16_pairs(shape):
    """Pointwise: (OC, C); small window: (OC, KH, run4), each kernel row zero-padded."""
    w = _w(np.random.default_rng(sum(shape)), *shape)
    got = packing.pack_weights(_n("conv2d", groups=1), w, "dsp")
    oc, kh, run = shape[0], shape[1], shape[2] * shape[3]
    run4 = -(-run // 4) * 4
    k = kh * run4
    assert got.dtype == np.int8 and got.size == 2 * (oc + oc % 2) * k
    rows = w.reshape(oc, kh, run)
    for o in range(oc + oc % 2):
        for kk in range(k):
            r, j = divmod(kk, run4)
            want = int(rows[o, r, j]) if o < oc and j < run else 0
            assert _w16_value(got, k, o, kk) == want, (o, kk)


def test_dsp_other_layers_stay_ohwi():
    rng = np.random.default_rng(3)
    for w, groups in [(_w(rng, 8, 1, 1, 13), 1),            # pointwise, C % 4 != 0
                      (_w(rng, 8, 1, 1, 388), 1),           # pointwise, C > DSP_W16_K_MAX
                      (_w(rng, 40, 3, 3, 3), 1)]:           # > DSP_SMALL_OC_MAX channels
        np.testing.assert_array_equal(packing.pack_weights(_n("conv2d", groups=groups), w,
                                                           "dsp"), w)
    fc = _w(rng, 10, 40)
    np.testing.assert_array_equal(packing.pack_weights(_n("fully_connected"), fc, "dsp"), fc)


def test_dsp_compact_keeps_pointwise_int8():
    w = _w(np.random.default_rng(5), 16, 1, 1, 8)
    np.testing.assert_array_equal(packing.pack_weights(_n("conv2d", groups=1), w, "dsp",
                                                       compact=True), w)
    assert packing.pack_weights(_n("conv2d", groups=1), w, "dsp").nbytes == 2 * w.nbytes


def test_dead_channels_get_the_fast_form_of_the_same_constant_output():
    from edgemobilenet.quant.fixedpoint import mbqm

    rng = np.random.default_rng(4)
    oc = 400
    w = _w(rng, oc, 3, 3, 8)
    dead = rng.random(oc) < 0.5
    w[dead] = 0
    bias = rng.integers(-(1 << 20), 1 << 20, oc).astype(np.int32)
    bias[:8] = [0, 1, -1, 2, -3, 1 << 30, -(1 << 30), 7]
    mult = rng.integers(1 << 30, (1 << 31) - 1, oc).astype(np.int32)
    shift = rng.integers(-12, 8, oc).astype(np.int32)
    mult[::7] = 0
    b, m, s = packing.dead_channels(w, bias, mult, shift)
    assert (m[dead] == 1 << 30).all() and (s[dead] == -4).all()
    np.testing.assert_array_equal(b[~dead], bias[~dead])   # the others are untouched
    np.testing.assert_array_equal(m[~dead], mult[~dead])
    for zp in (-128, -5, 0, 90, 127):        # same int8 output for every zero point
        want = np.clip(mbqm(bias, mult, shift) + zp, -128, 127)
        got = np.clip(mbqm(b, m, s) + zp, -128, 127)
        np.testing.assert_array_equal(got[dead], want[dead])


def test_dw3_table_blocks_and_weight_words():
    """dsp depthwise 3x3: per full block of 4 channels {pos, scaled biases, {m, R}, 18 int16
    pair words}; pos 0 (the run-time forms) for a block with a negative multiplier or a
    clamp below out_zp; taps scaled by 2^(DW3_S + 1 - e) in the S form."""
    rng = np.random.default_rng(6)
    taps = _w(rng, 3, 3, 13)                       # (KH, KW, C): 3 blocks, 1 channel left
    bias = rng.integers(-1000, 1000, 13).astype(np.int32)
    mult = np.full(13, 1 << 30, np.int32)
    shift = np.full(13, -7, np.int32)
    shift[0], mult[5] = -4, -1                     # k = 8 on channel 0; block 1: m < 0
    t = packing.dw3_table(taps, bias, mult, shift, -10, -10, 127)
    assert t.shape == (3, packing.DW3_BLOCK) and t.dtype == np.int32
    assert list(t[:, 0]) == [3, 0, 3] and not t[1].any()
    assert t[0, 1] == bias[0] << 8 and t[0, 2] == bias[1] << 5
    assert t[0, 5] == 1 << 30 and t[0, 6] == (1 << 6) + (1 << 10)
    w16 = t[0, 13:].view("<i2").reshape(3, 12)     # per kernel row: 6 words, 2 halves each
    scale = [1 << 8, 1 << 5, 1 << 5, 1 << 5]
    order = [(2, 0), (2, 2), (2, 1), (2, 3), (0, 0), (1, 0), (0, 2), (1, 2), (0, 1), (1, 1),
             (0, 3), (1, 3)]
    for kh in range(3):
        assert list(w16[kh]) == [int(taps[kh, kw, j]) * scale[j] for kw, j in order]
    full = packing.dw3_table(taps, bias, np.abs(mult), shift, -128, -128, 127)
    assert list(full[:, 0]) == [4, 4, 4]
    assert not packing.dw3_table(taps, bias, np.abs(mult), shift, 0, -128, 127).any()
    blob = packing.with_dw3_table(taps, t)
    assert blob.dtype == np.int8 and blob.size == 120 + 3 * 4 * packing.DW3_BLOCK
    np.testing.assert_array_equal(blob[:117], taps.reshape(-1))
    assert not blob[117:120].any()
    np.testing.assert_array_equal(blob[120:].view("<i4").reshape(3, -1), t)
