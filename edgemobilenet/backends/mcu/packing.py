"""Offline weight layouts for the Cortex-M kernel variants (firmware/kernels/{portable,dsp,mve}).

The code generator calls `pack_weights` on every conv2d / fully_connected weight and emits
the result as the layer's `const int8_t` array. Layouts:

- portable: OHWI as in the QGraph (identity); dsp and mve too, except:
- dsp, mve depthwise conv2d (groups == C == OC > 1): the weight (C, KH, KW, 1) becomes
  (KH, KW, C) so that one word / vector load gives the taps of 4 / 8 neighbouring channels.
  dsp 3x3 without dilation (`is_dw3`) appends, once the requantization constants are final
  (kernel_args), each 4-channel block's S-form constants and weight words (`dw3_table`).
  DSP pointwise and FC need no reordering: the SMLAD kernels apply the same SXTB16 byte split
  to activations and weights, so the pairs line up.
- dsp "w16" (int16 weights, twice the bytes): pointwise conv2d with C % 4 == 0 and
  C <= DSP_W16_K_MAX, seen as (OC, K = C); and groups-1 conv2d that is not 1x1 with a small
  window (KH * run4 <= DSP_SMALL_K_MAX with run4 = KW * C rounded up to a multiple of 4,
  OC <= DSP_SMALL_OC_MAX, e.g. the first conv), seen as (OC, KH, run4) = (OC, K), each kernel
  row zero-padded to run4. Then OC zero-padded to an even count, as int16 in
  SXTB16 order: for each output channel pair, for each group of 4 values (c0..c3), the words
  oc0 (c0, c2), oc0 (c1, c3), oc1 (c0, c2), oc1 (c1, c3) (little-endian int16 pairs). One
  LDM then feeds SMLAD directly (firmware/kernels/dsp/emb_dsp_loops.h, w16_run). For
  MobileNetV1 0.25-96 this adds 196 KB of flash (530 -> 726 KB). With `compact`, pointwise
  weights stay int8 OHWI (the slower SMLAD path; the C side reads emb_conv_params.compact).
- mve groups-1 conv2d, not 1x1, with kernel rows of at most 16 bytes (KW * C <= 16, KH <= 3,
  dilation_w 1; `mve_rows`: the first conv of a one-channel or RGB image): with R = 4 if
  KW * C <= 4 else 16, (OC, KH, KW * C) zero-padded to (OC, 16 / R or 3, R), kernel row kh
  at bytes R kh.., then the 4-channel blocks below (each block 4 rows of 16 or 48 bytes).
- mve fully_connected, pointwise conv2d (1x1, groups 1), and groups-1 conv2d with a small
  window (K = KH * KW * C <= MVE_SMALL_K_MAX and OC <= MVE_SMALL_OC_MAX, e.g. the first
  conv): the weight, seen as (OC, K), in blocks of 4 output channels (OC zero-padded to a
  multiple of 4), each block 4 * K bytes: first the K // 16 full chunks, each the 4 channels'
  16 values in turn (flat index (oc // 4) * 4K + 64 * j + 16 * (oc % 4) + i for k = 16 * j +
  i), then the last t = K % 16 values of the 4 channels in turn (index (oc // 4) * 4K +
  64 * (K // 16) + t * (oc % 4) + i). One pointer then walks all 4 rows
  (firmware/kernels/mve/emb_conv2d.c, SMALL_K_MAX / SMALL_OC_MAX there).

Requantization constants are the QGraph's, except for dead channels (`dead_channels`):
an output channel whose weights are all zero accumulates its bias alone, so its output is
the constant clamp(zp_y + MBQM(bias, m, shift)); trained and pruned models have many, often
with a left shift (the quantizer's weight scale of an all-zero channel is not small), which
the fast requantization forms do not take. They get bias 32R, multiplier 2^30, shift -4,
with R = MBQM(bias, m, shift) clipped to +-512: MBQM(32R, 2^30, -4) == R exactly, and any
|R| >= 256 saturates the int8 output the same way (a right shift of 4: inside the window of
the dsp S forms, so a dead channel keeps a block or chunk on them).
"""
from __future__ import annotations

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.fixedpoint import mbqm
from edgemobilenet.quant.qgraph import QNode

VARIANTS = ("portable", "dsp", "mve")
# Small-window conv paths (conv_small in firmware/kernels/{dsp,mve}/emb_conv2d.c; the C
# constants SMALL_K_MAX / SMALL_OC_MAX must match these).
DSP_SMALL_K_MAX, DSP_SMALL_OC_MAX = 256, 32
DSP_W16_K_MAX = 384   # W16_K_MAX in firmware/kernels/dsp/emb_dsp_loops.h
MVE_SMALL_K_MAX, MVE_SMALL_OC_MAX = 256, 64


def _conv_groups(node: QNode, weight: np.ndarray) -> int:
    """groups of a conv2d node with an OHWI weight (its typed attributes); 0 otherwise."""
    return ops.attrs_of(node).groups if node.op == "conv2d" and weight.ndim == 4 else 0


def is_depthwise(node: QNode, weight: np.ndarray) -> bool:
    """Depthwise with channel multiplier 1: the case the optimised variants repack."""
    groups = _conv_groups(node, weight)
    return groups > 1 and weight.shape[0] == groups and weight.shape[3] == 1


def is_pointwise(node: QNode, weight: np.ndarray) -> bool:
    """1x1 conv2d with groups 1 (dilation and stride do not change the weight use)."""
    return _conv_groups(node, weight) == 1 and weight.shape[1] == 1 and weight.shape[2] == 1


def _small(node: QNode, weight: np.ndarray, k_max: int, oc_max: int) -> bool:
    """groups-1 conv2d whose window fits a small-window path (conv_small)."""
    return (_conv_groups(node, weight) == 1 and weight.shape[0] <= oc_max
            and int(np.prod(weight.shape[1:])) <= k_max)


def mve_rows(node: QNode, weight: np.ndarray) -> bool:
    """mve conv_rows_k: groups 1, not 1x1, kernel rows of at most 16 bytes (KW * C <= 16,
    KH <= 3), dilation_w 1 (the first conv of a one-channel or RGB image)."""
    return (_conv_groups(node, weight) == 1 and not is_pointwise(node, weight)
            and weight.shape[2] * weight.shape[3] <= 16 and weight.shape[1] <= 3
            and ops.attrs_of(node).dilation[1] == 1)


def _pad_k4(w2: np.ndarray) -> np.ndarray:
    """(OC, K) -> (OC, K4), zero-padded."""
    oc, k = w2.shape
    out = np.zeros((oc, -(-k // 4) * 4), np.int8)
    out[:, :k] = w2
    return out


def _dsp_small(node: QNode, w: np.ndarray) -> bool:
    """dsp conv_small: not 1x1, groups 1, OC and KH * run4 within the limits."""
    return (_conv_groups(node, w) == 1 and not is_pointwise(node, w)
            and w.shape[0] <= DSP_SMALL_OC_MAX
            and w.shape[1] * (-(-w.shape[2] * w.shape[3] // 4) * 4) <= DSP_SMALL_K_MAX)


def _w16(w2: np.ndarray) -> np.ndarray:
    """(OC, K), K % 4 == 0 -> the dsp int16 pair layout (OC padded to even), as int8 bytes."""
    oc, k = w2.shape
    pad = np.zeros((oc + oc % 2, k), np.int16)
    pad[:oc] = w2
    blocks = pad.reshape(-1, 2, k // 4, 4).transpose(0, 2, 1, 3)[..., [0, 2, 1, 3]]
    return np.ascontiguousarray(blocks.astype("<i2")).reshape(-1).view(np.int8)


def _interleave4(w2: np.ndarray) -> np.ndarray:
    """(OC, K) -> blocks of 4 rows (OC zero-padded), 16-byte chunks interleaved, then the
    K % 16 tails of the 4 rows."""
    oc, k = w2.shape
    oc4, full = -(-oc // 4) * 4, k // 16 * 16
    pad = np.zeros((oc4, k), np.int8)
    pad[:oc] = w2
    blocks = pad.reshape(oc4 // 4, 4, k)
    main = blocks[..., :full].reshape(oc4 // 4, 4, full // 16, 16).transpose(0, 2, 1, 3)
    tail = blocks[..., full:]
    return np.ascontiguousarray(np.concatenate(
        [main.reshape(oc4 // 4, -1), tail.reshape(oc4 // 4, -1)], axis=1).reshape(-1))


def has_w16_pointwise(node: QNode, weight: np.ndarray) -> bool:
    """A pointwise conv the dsp kernels run from int16 weights unless told `compact`."""
    return (is_pointwise(node, weight) and weight.shape[3] % 4 == 0
            and weight.shape[3] <= DSP_W16_K_MAX)


def pack_weights(node: QNode, weight: np.ndarray, variant: str,
                 compact: bool = False) -> np.ndarray:
    """QGraph weight (OHWI int8, or (OC, C) for FC) -> the layout `variant` expects (a
    flat or shaped int8 array; the C kernels only see its bytes). Biases are not packed: the
    kernels take the QGraph's bias, multiplier and shift arrays unchanged. `compact` keeps
    dsp pointwise weights int8 (half the bytes, slower)."""
    if variant not in VARIANTS:
        raise EdgembError(f"layer '{node.name}' ({node.op}): unknown kernel variant '{variant}' "
                          f"(expected one of {', '.join(VARIANTS)})")
    w = np.ascontiguousarray(weight, dtype=np.int8)
    if variant != "portable" and is_depthwise(node, w):
        return np.ascontiguousarray(w[..., 0].transpose(1, 2, 0))
    if variant == "mve" and mve_rows(node, w):
        r = 4 if w.shape[2] * w.shape[3] <= 4 else 16     # kernel row kh at bytes r kh..
        rows = np.zeros((w.shape[0], 4 if r == 4 else 3, r), np.int8)
        rows[:, :w.shape[1], :w.shape[2] * w.shape[3]] = w.reshape(*w.shape[:2], -1)
        return _interleave4(rows.reshape(w.shape[0], -1))
    if variant == "mve" and (node.op == "fully_connected" or is_pointwise(node, w) or
                             _small(node, w, MVE_SMALL_K_MAX, MVE_SMALL_OC_MAX)):
        return _interleave4(w.reshape(w.shape[0], -1))
    if variant == "dsp" and not compact and has_w16_pointwise(node, w):
        return _w16(w.reshape(w.shape[0], -1))
    if variant == "dsp" and _dsp_small(node, w):
        rows = _pad_k4(w.reshape(w.shape[0] * w.shape[1], -1))    # (OC * KH, run4)
        return _w16(rows.reshape(w.shape[0], -1))
    return w


W16_S = 11   # W16_S in firmware/kernels/dsp/emb_dsp_loops.h (the S form's final shift)


def is_w16(node: QNode, weight: np.ndarray, compact: bool = False) -> bool:
    """dsp packs this conv's weight in the w16 layout (pointwise unless `compact`, or a
    small window)."""
    return (not compact and has_w16_pointwise(node, weight)) or _dsp_small(node, weight)


def w16_exponents(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, k: int,
                  out_zp: int, act_min: int, act_max: int) -> np.ndarray:
    """Per output channel, the exponent sk whose 2^sk scales a w16 channel's weights (0: not
    scaled); the rule of w16_exp in firmware/kernels/dsp/emb_conv2d.c: a channel with
    multiplier > 0 and a right shift e of W16_S - 7 .. W16_S - 1 whose scaled accumulator
    stays an int32, (|bias| + k * 255 * 128) * 2^sk < 2^31 over its k weights, gets
    sk = W16_S + 1 - e (the S form: SMMLA, SAT with ASR #W16_S) in a ReLU-style layer
    (act_min >= out_zp); in a linear one over the whole int8 range only if every channel
    does (w16_lin: the signed S form); else none."""
    e = -np.asarray(shift, np.int64)
    a_max = np.abs(np.asarray(bias, np.int64)) + k * 255 * 128
    ok = (np.asarray(mult, np.int64) > 0) & (e >= W16_S - 7) & (e <= W16_S - 1)
    ok &= a_max < np.left_shift(1, np.clip(30 - W16_S + e, 0, 62))
    if act_min < out_zp:
        ok &= act_min == -128 and act_max == 127 and bool(ok.all())
    return np.where(ok, W16_S + 1 - e, 0).astype(np.int64)


def scale_w16(packed: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """The w16 layout (`_w16` bytes) with output channel i's weights times 2^exps[i]."""
    oc2 = -(-len(exps) // 2) * 2
    w = packed.view("<i2").reshape(oc2 // 2, -1, 2, 4).astype(np.int32)
    sk = np.zeros(oc2, np.int64)
    sk[:len(exps)] = exps
    w = w * (1 << sk.reshape(oc2 // 2, 1, 2, 1))
    return np.ascontiguousarray(w.astype("<i2")).reshape(-1).view(np.int8)


DEAD_MULTIPLIER, DEAD_SHIFT, DEAD_BIAS, DEAD_CLIP = 1 << 30, -4, 32, 512
DEAD_CHANNEL_OPS = ("conv2d", "fully_connected")   # ops that requantize with MBQM


def dead_channels(weight: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                  shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bias, multiplier, shift) with every all-zero-weight output channel (axis 0 of the
    QGraph weight) rewritten to the fast form of the same constant output (module doc);
    the other channels unchanged. New arrays; the inputs are not modified."""
    dead = ~np.asarray(weight).reshape(len(bias), -1).any(axis=1)
    if not dead.any():
        return bias, mult, shift
    r = np.clip(mbqm(bias[dead], mult[dead], shift[dead]), -DEAD_CLIP, DEAD_CLIP)
    b, m, s = (np.array(v, dtype=np.int32) for v in (bias, mult, shift))
    b[dead], m[dead], s[dead] = DEAD_BIAS * r, DEAD_MULTIPLIER, DEAD_SHIFT
    return b, m, s


DW3_S = 11      # DW3_S in firmware/kernels/dsp/emb_dsp_loops.h (the S form's final shift)
DW3_BLOCK = 31  # words per 4-channel block of the dsp depthwise 3x3 table (DW3_PACK in C)


def is_dw3(node: QNode, weight: np.ndarray) -> bool:
    """A depthwise 3x3 without dilation: the dsp kernels' dw3_block (k3 in emb_conv2d.c)."""
    return (is_depthwise(node, weight) and weight.shape[1] == weight.shape[2] == 3
            and ops.attrs_of(node).dilation == (1, 1))


def _dw3_s_channel(taps: np.ndarray, bias: int, m: int, s: int, out_zp: int, act_min: int,
                   act_max: int) -> tuple[int, int, int, int] | None:
    """One channel's S form (firmware/kernels/dsp/emb_dsp_loops.h's
    dw3_run): (m, R, scaled bias, tap exponent t), or None when the block must take the
    run-time forms. With k = DW3_S + 1 - e for right shifts e of DW3_S - 7 .. DW3_S - 1 (taps
    and bias times 2^k, |a| 2^k < 2^31 from the bound |bias| + 9 * 255 * 128), R = 2^(k - 2)
    + 2^(DW3_S - 1) + f 2^DW3_S with f = out_zp - act_min; constant channels (m 0, a right
    shift past the window with |a| < 2^(e - 1) - 1, or all 9 taps 0) get m 0 and R = (their
    output - act_min) 2^DW3_S."""
    f, e, a_max = out_zp - act_min, -s, abs(bias) + 9 * 255 * 128
    if m < 0:
        return None
    if m > 0 and DW3_S - 7 <= e <= DW3_S - 1:
        k = DW3_S + 1 - e
        if a_max >= 1 << (31 - k):
            return None
        return m, (1 << (k - 2)) + (1 << (DW3_S - 1)) + f * (1 << DW3_S), bias << k, k
    v = f
    if m > 0 and not (DW3_S - 1 < e <= 31 and a_max < (1 << (e - 1)) - 1):
        if taps.any():
            return None
        v = int(np.clip(out_zp + mbqm(np.int64(bias), m, s), act_min, act_max)) - act_min
    return 0, v * (1 << DW3_S), bias, 0


def dw3_table(weight: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
              out_zp: int, act_min: int, act_max: int) -> np.ndarray:
    """The dsp depthwise 3x3 constants of each full block of 4 channels, DW3_BLOCK int32 words
    (firmware/kernels/dsp/emb_conv2d.c, conv_depthwise): {pos, 4 scaled biases, {m, R} x 4,
    the 18 weight words of dw3_run}, pos 3 / 4 for a block in the S form (every channel
    _dw3_s_channel's, m >= 0 and act_min >= out_zp; 4: the clamp is the whole int8 range);
    an all-zero block (pos 0) takes the run-time forms. The weight words per kernel row: the
    int16 pairs of taps (kw, channel) (2, 0)(2, 2), (2, 1)(2, 3), (0, 0)(1, 0), (0, 2)(1, 2),
    (0, 1)(1, 1), (0, 3)(1, 3), each tap times 2^t of its channel. `weight`: (KH, KW, C)."""
    c = weight.shape[2]
    out = np.zeros((c // 4, DW3_BLOCK), np.int64)
    order = [(2, 0), (2, 2), (2, 1), (2, 3), (0, 0), (1, 0), (0, 2), (1, 2), (0, 1), (1, 1),
             (0, 3), (1, 3)]
    for blk in range(c // 4):
        chs = range(4 * blk, 4 * blk + 4)
        if act_min < out_zp or any(int(mult[ch]) < 0 for ch in chs):
            continue
        forms = [_dw3_s_channel(weight[:, :, ch], int(bias[ch]), int(mult[ch]),
                                int(shift[ch]), out_zp, act_min, act_max) for ch in chs]
        if None in forms:
            continue
        row = out[blk]
        row[0] = 4 if (act_min, act_max) == (-128, 127) else 3
        for j, (m, r, b, t) in enumerate(forms):
            row[1 + j], row[5 + 2 * j], row[6 + 2 * j] = b, m, r
        taps = weight[:, :, 4 * blk:4 * blk + 4].astype(np.int64) << np.array(
            [fm[3] for fm in forms])
        pairs = np.array([[taps[kh, kw, j] for kw, j in order] for kh in range(3)])
        row[13:] = ((pairs[:, 0::2] & 0xFFFF) | (pairs[:, 1::2] << 16)).reshape(-1)
    return (out & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def with_dw3_table(taps: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The dsp depthwise 3x3 weight bytes: the (KH, KW, C) taps, zero-padded to a multiple of
    4 bytes, then `dw3_table`'s words (little-endian)."""
    raw = np.asarray(taps, np.int8).reshape(-1)
    pad = np.zeros(-len(raw) % 4, np.int8)
    return np.concatenate([raw, pad, table.astype("<i4").reshape(-1).view(np.int8)])
