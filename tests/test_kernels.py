"""C kernels (firmware/kernels) against the numpy reference, bit for bit, on the host.

Each variant is built with gcc under ASan + UBSan (dsp/mve through the ACLE emulation
headers in firmware/tests/acle_emul/) and runs every op on random inputs and parameters:
hand-built calibrated graphs (tests/qgraph_builders.py) plus a sweep of conv / FC shapes with
random zero points, clamps, multipliers and shifts.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from qgraph_builders import SINGLE_OP_BUILDERS, avg_pool, sample_input

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.quant.fixedpoint import INT32_MAX, INT32_MIN, mbqm
from edgemobilenet.quant.qgraph import QNode, QTensor
from edgemobilenet.quant.reference import apply, run

VARIANTS = ["portable", "dsp", "mve"]
HOST_VARIANTS = ["portable", "dsp"]   # mve: QEMU only (tests/test_kernels_qemu.py)

# (h, w, c_in, c_out, kernel, stride, padding [t, l, b, r], dilation, groups)
CONV_SHAPES = [
    (7, 5, 13, 11, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise, odd channels
    (6, 6, 64, 24, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise, blocked channels
    (5, 4, 40, 12, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise, C = 2 * 16 + 8, C / 4 even
    (3, 3, 20, 8, 1, 1, [0, 0, 0, 0], 1, 1),       # pointwise, odd pixels, C / 4 odd
    (5, 7, 19, 6, 1, 2, [1, 1, 1, 0], 1, 1),       # 1x1 stride 2 with padding
    (9, 9, 3, 8, 3, 2, [0, 0, 1, 1], 1, 1),        # first conv, TF "same" stride 2
    (8, 7, 6, 10, 3, 1, [1, 1, 1, 1], 1, 1),
    (9, 8, 5, 7, 5, 2, [1, 2, 2, 1], 1, 1),        # 5x5, asymmetric padding
    (8, 8, 8, 6, 3, 1, [2, 2, 2, 2], 2, 1),        # dilated
    (7, 7, 8, 12, 3, 1, [1, 1, 1, 1], 1, 2),       # grouped
    (2, 2, 4, 5, 3, 1, [1, 1, 1, 1], 1, 1),        # input smaller than the kernel
    (8, 8, 16, 16, 3, 1, [1, 1, 1, 1], 1, 16),     # depthwise 3x3
    (6, 9, 16, 16, 3, 1, [0, 0, 0, 0], 1, 16),     # depthwise 3x3, no padding (a patch)
    (9, 9, 17, 17, 3, 2, [1, 1, 1, 1], 1, 17),     # depthwise 3x3 stride 2, odd channels
    (10, 10, 5, 5, 3, 2, [0, 0, 1, 1], 1, 5),
    (9, 7, 20, 20, 5, 1, [2, 2, 2, 2], 1, 20),     # depthwise 5x5
    (11, 11, 7, 7, 5, 2, [2, 2, 2, 2], 1, 7),
    (7, 7, 6, 6, 7, 1, [3, 3, 3, 3], 1, 6),        # depthwise 7x7 (generic K)
    (8, 8, 4, 4, 3, 1, [2, 2, 2, 2], 2, 4),        # depthwise dilated
    (7, 7, 8, 8, 3, 1, [2, 2, 2, 2], 2, 8),        # depthwise dilated, 8 channels
    (3, 3, 33, 33, 3, 1, [1, 1, 1, 1], 1, 33),
    (5, 7, 12, 7, 1, 2, [1, 1, 1, 0], 1, 1),       # w16 1x1 stride 2, padding, odd OC
    (1, 1, 8, 6, 1, 1, [0, 0, 0, 0], 1, 1),        # w16, one pixel
    (4, 6, 8, 5, 1, 1, [0, 0, 0, 0], 1, 1),        # w16 dense, odd OC
    (2, 3, 260, 4, 1, 1, [0, 0, 0, 0], 1, 1),      # w16, C > 256: 65 unrolled steps
    (2, 3, 388, 4, 1, 1, [0, 0, 0, 0], 1, 1),      # C > 384: int8 pointwise
    (9, 9, 3, 7, 3, 2, [0, 0, 1, 1], 1, 1),        # small window, odd OC
    (3, 41, 8, 8, 3, 1, [1, 1, 1, 1], 1, 8),       # depthwise, 2 column segments
    (4, 45, 12, 12, 3, 2, [0, 0, 1, 1], 1, 12),    # depthwise s2, one segment of 23
    (10, 9, 1, 6, 3, 2, [0, 0, 1, 1], 1, 1),       # one-channel first conv (K 9), odd OC
    (7, 6, 1, 8, 3, 1, [1, 1, 1, 1], 1, 1),        # one channel, padding all round
    (6, 1, 8, 8, 3, 1, [1, 1, 1, 1], 1, 8),        # depthwise rows: one slot, both ends padded
    (7, 9, 8, 8, 3, 1, [0, 0, 0, 0], 1, 8),        # depthwise rows: no padding
    (5, 7, 4, 4, 3, 1, [1, 1, 0, 0], 1, 4),        # depthwise rows: first column padded only
    (7, 9, 8, 8, 3, 2, [1, 1, 0, 0], 1, 8),        # same, stride 2
    (5, 3, 4, 4, 3, 2, [1, 1, 1, 1], 1, 4),        # stride 2, both ends padded
    (5, 3, 4, 4, 3, 1, [1, 1, 2, 2], 1, 4),        # 2 columns padded on the right: widened
    (4, 5, 4, 4, 3, 1, [2, 2, 1, 1], 1, 4),        # 2 on the left: widened
    (3, 90, 8, 8, 3, 1, [1, 1, 1, 1], 1, 8),       # mve dw3: 2 column segments (dsp 4), 1-row bands
    (5, 90, 8, 8, 3, 2, [0, 0, 1, 1], 1, 8),       # mve dw3 / dsp stride 2: 2 column segments
    (12, 9, 8, 8, 3, (3, 2), [1, 1, 1, 1], 1, 8),  # dsp dw3_rows: 3 new rows per output row
    (13, 9, 8, 8, 3, (4, 1), [1, 1, 1, 1], 1, 8),  # dw3_rows: stride_h 4, a row overwritten
    (7, 7, 2, 6, 2, 1, [0, 0, 1, 1], 1, 1),        # mve rows4: kernel rows of 4 bytes
    (8, 8, 1, 5, 4, 1, [1, 1, 2, 2], 1, 1),        # one channel, k_h 4: not rows4
    (10, 12, 3, 8, 3, 2, [1, 1, 1, 1], 1, 1),      # mve rows16: RGB, padding all round
    (6, 6, 8, 4, 2, 1, [0, 0, 1, 1], 1, 1),        # mve rows16: rows of 16 bytes, k_h 2
    (3, 5, 256, 256, 3, 1, [1, 1, 1, 1], 1, 256),  # mve dw3 fill: C > 248, no byte gathers
    (1, 1, 24, 6, 1, 1, [0, 0, 0, 0], 1, 1),       # mve pointwise, one pixel: not pw_dense
]
FC_SHAPES = [(64, 10), (13, 7), (256, 10), (3, 1), (100, 33), (1030, 3)]   # > 1024: MVE sums w


def _shift_for(terms: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Shifts that map a typical accumulator of `terms` products to roughly +-60."""
    base = -round(math.log2(math.sqrt(terms) * 5000 / 60))
    return (base + rng.integers(-1, 2, n)).astype(np.int32)


def _random_requant(rng: np.random.Generator, node: QNode, oc: int, terms: int) -> None:
    node.params["bias"] = rng.integers(-20000, 20000, oc, dtype=np.int32)
    node.params["multiplier"] = rng.integers(1 << 30, INT32_MAX, oc, dtype=np.int32, endpoint=True)
    node.params["shift"] = _shift_for(terms, rng, oc)
    lo, hi = sorted(rng.integers(-128, 128, 2))
    if rng.random() < 0.5:
        lo, hi = -128, 127
    node.attrs.update(act_min=int(lo), act_max=int(max(hi, lo + 1)))


def _conv_case(rng: np.random.Generator, shape: tuple) -> tuple:
    h, w, c, oc, k, s, pad, d, g = shape
    sh, sw = s if isinstance(s, tuple) else (s, s)   # (stride_h, stride_w) or both
    st = f"{sh}" if sh == sw else f"{sh}x{sw}"
    node = QNode(f"conv_{h}x{w}x{c}_{oc}_k{k}s{st}d{d}g{g}", "conv2d", ["x"], ["y"],
                 {"stride": [sh, sw], "padding": pad, "dilation": [d, d], "groups": g})
    node.params["weight"] = rng.integers(-128, 128, (oc, k, k, c // g), dtype=np.int8)
    _random_requant(rng, node, oc, k * k * c // g)
    oh = (h + pad[0] + pad[2] - d * (k - 1) - 1) // sh + 1
    ow = (w + pad[1] + pad[3] - d * (k - 1) - 1) // sw + 1
    xt = QTensor("x", (1, h, w, c), zero_point=int(rng.integers(-128, 128)))
    yt = QTensor("y", (1, oh, ow, oc), zero_point=int(rng.integers(-128, 128)))
    return node, [xt], yt, [rng.integers(-128, 128, xt.shape, dtype=np.int8)]


def _fc_case(rng: np.random.Generator, c: int, oc: int) -> tuple:
    node = QNode(f"fc_{c}_{oc}", "fully_connected", ["x"], ["y"], {})
    node.params["weight"] = rng.integers(-128, 128, (oc, c), dtype=np.int8)
    _random_requant(rng, node, oc, c)
    xt = QTensor("x", (1, c), zero_point=int(rng.integers(-128, 128)))
    yt = QTensor("y", (1, oc), zero_point=int(rng.integers(-128, 128)))
    return node, [xt], yt, [rng.integers(-128, 128, xt.shape, dtype=np.int8)]


def _builder_cases(rng: np.random.Generator) -> list[tuple]:
    """Every node (not reshape) of every single-op builder graph, on its sample activations."""
    out = []
    for name, build in sorted(SINGLE_OP_BUILDERS.items()):
        g = build(rng)
        acts = run(g, sample_input(g, rng), keep_all=True)
        for node in g.nodes:
            if node.op == "reshape":
                continue
            node.name = f"{name}/{node.name}"
            out.append((node, [g.tensors[t] for t in node.inputs], g.tensors[node.outputs[0]],
                        [acts[t] for t in node.inputs]))
    return out


def _edge_requant(case: tuple, rng: np.random.Generator, left_max: int = 3) -> tuple:
    """Shifts over the whole range (left shifts that wrap, right shifts to 31), zero
    multipliers: the vector requantization paths must still equal emb_mbqm. `left_max`
    above 8: past the mve depthwise 3x3 weight-scaled left shift (DW3_MAX_LEFT)."""
    node = case[0]
    oc = node.params["bias"].shape[0]
    node.params["shift"] = rng.integers(-31, left_max + 1, oc).astype(np.int32)
    node.params["multiplier"][rng.random(oc) < 0.2] = 0
    node.name += "_edge_requant"
    return case


def trained_requant(case: tuple, rng: np.random.Generator, dead: float = 0.25,
                    left: float = 0.1, tiny: float = 0.1) -> tuple:
    """What trained models produce per output channel: dead channels (all-zero weights
    after BN folding or magnitude pruning; multiplier 0, or a left shift as our quantizer
    gives them: packing.dead_channels rewrites those), channels with a left
    shift (real multiplier >= 0.5: sparse small weights, so some outputs do not saturate)
    and near-dead channels (right shifts of 22..31); the rest unchanged."""
    node = case[0]
    w, m, s = node.params["weight"], node.params["multiplier"], node.params["shift"]
    oc = m.shape[0]
    kind = rng.choice(4, oc, p=[dead, left, tiny, 1 - dead - left - tiny])
    for i, o in enumerate(np.flatnonzero(kind == 0)):   # multiplier 0, or as the quantizer
        w[o] = 0                                         # gives all-zero channels: a left
        m[o], s[o] = (0, 0) if i % 2 else (rng.integers(1 << 30, INT32_MAX), rng.integers(3))
    for o in np.flatnonzero(kind == 1):
        w[o] = rng.choice([-1, 0, 0, 0, 1], w[o].shape).astype(np.int8)
        node.params["bias"][o] = rng.integers(-64, 64)
        s[o] = rng.integers(0, 3)
    for o in np.flatnonzero(kind == 2):
        s[o] = rng.integers(-31, -21)
    node.name += "_trained"
    return case


def pruned_layer(case: tuple) -> tuple:
    """Every output channel dead (a layer pruned away)."""
    node = case[0]
    node.params["weight"][:] = 0
    node.params["multiplier"][:] = 0
    node.params["shift"][:] = 0
    node.name += "_pruned"
    return case


# Shapes of every fast path (dsp w16 / int8 / small window / depthwise 3x3, mve pointwise
# run / small window / depthwise), run with trained_requant's channels.
TRAINED_SHAPES = [
    (6, 6, 64, 24, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise (w16 / mve run)
    (4, 5, 32, 72, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise, 2 w16 chunks, odd pixels
    (5, 5, 8, 12, 1, 1, [0, 0, 0, 0], 1, 1),       # pointwise C = 8 (mve pw_k), odd pixels
    (4, 5, 16, 10, 1, 1, [0, 0, 0, 0], 1, 1),      # pointwise C = 16 (mve pw_k), OC tail
    (3, 3, 388, 8, 1, 1, [0, 0, 0, 0], 1, 1),      # int8 pointwise (C > 384)
    (3, 3, 336, 56, 1, 1, [0, 0, 0, 0], 1, 1),     # w16, C 336: chunks of 50, odd pixels
    (9, 9, 3, 8, 3, 2, [0, 0, 1, 1], 1, 1),        # first conv (small window)
    (9, 9, 1, 8, 3, 2, [0, 0, 1, 1], 1, 1),        # one-channel first conv
    (8, 8, 16, 16, 3, 1, [1, 1, 1, 1], 1, 16),     # depthwise 3x3
    (9, 9, 24, 24, 3, 2, [0, 0, 1, 1], 1, 24),     # depthwise 3x3 stride 2
    (7, 7, 12, 12, 5, 1, [2, 2, 2, 2], 1, 12),     # depthwise 5x5
    (6, 5, 8, 6, 3, 1, [1, 1, 1, 1], 1, 1),        # conv_rows
]


def _add_case(rng: np.random.Generator, n: int, left_shift: int) -> tuple:
    """add over n values (vector tails) with random zero points, rescales and clamp."""
    node = QNode(f"add_{n}_ls{left_shift}", "add", ["a", "b"], ["y"],
                 {"left_shift": left_shift})
    node.params["multiplier"] = rng.integers(1 << 30, INT32_MAX, 3, dtype=np.int32)
    node.params["shift"] = np.array([rng.integers(-3, 1), rng.integers(-3, 1),
                                     rng.integers(-left_shift - 2, -left_shift + 6)], np.int32)
    node.params["multiplier"][n % 2] = 1 << 30    # the larger input's rescale: exactly 0.5
    node.params["shift"][n % 2] = 0
    lo, hi = sorted(rng.integers(-128, 128, 2))
    node.attrs.update(act_min=int(lo), act_max=int(max(hi, lo + 1)))
    ts = [QTensor(t, (1, n), zero_point=int(rng.integers(-128, 128))) for t in "aby"]
    return node, ts[:2], ts[2], [rng.integers(-128, 128, (1, n), dtype=np.int8) for _ in "ab"]


def trained_cases(seed: int = 3) -> list[tuple]:
    """TRAINED_SHAPES with trained_requant (ReLU-style and linear clamps), a pruned layer,
    and an FC layer."""
    rng = np.random.default_rng(seed)
    cases = []
    for shape in TRAINED_SHAPES:
        for relu in (True, "full", False):
            case = trained_requant(_conv_case(rng, shape), rng)
            node, yt = case[0], case[2]
            if relu == "full":   # ReLU with output zero point -128: the whole int8 range
                yt.zero_point = -128
                node.attrs.update(act_min=-128, act_max=127)
                node.name += "_relu_full"
            elif relu:
                node.attrs.update(act_min=int(yt.zero_point), act_max=127)
                node.name += "_relu"
            else:
                node.attrs.update(act_min=-128, act_max=127)
            cases.append(case)
    cases.append(pruned_layer(_conv_case(rng, TRAINED_SHAPES[0])))
    cases.append(trained_requant(_fc_case(rng, 64, 10), rng))
    cases += [_add_case(rng, n, ls) for n, ls in ((1, 20), (7, 20), (33, 20), (64, 0), (9, 22),
                                                   (12, 21), (8, 1),
                                                   (512, 20), (1031, 0))]   # dsp: tables
    # mve: MBQM left shifts take the intrinsics loop, shifts of 0 no rounding fix-up; small
    # values (left_shift 0, the whole int8 range out) so that a rounding step shows
    for shifts in ((2, -1, -1), (-1, 1, -1), (-1, -1, 3), (0, -1, 0), (-1, 0, -1)):
        case = _add_case(rng, 37, 0)
        case[0].params["shift"][:] = shifts
        case[0].attrs.update(act_min=-128, act_max=127)
        case[0].name += "_s" + "_".join(map(str, shifts))
        cases.append(case)
    full = _add_case(rng, 1030, 20)   # dsp tables, the whole int8 range: SSAT
    full[0].attrs.update(act_min=-128, act_max=127)
    full[0].name += "_full"
    cases.append(full)
    # dsp tables: a fast input rescale (right shift 2: its sign term shows) in the incremental
    # table and past left shift 21 (x wraps: not incremental); the whole int8 range with an
    # output shift whose out_zp does not fold (e1 27)
    for n, ls, shifts, zp in ((600, 1, (-2, 0, -1), 3), (600, 26, (-2, 0, -30), 5),
                              (600, 20, (-1, 0, -28), 127)):
        case = _add_case(rng, n, ls)
        case[0].params["shift"][:] = shifts
        case[0].params["multiplier"][1] = 1 << 30
        case[2].zero_point = zp
        case[0].attrs.update(act_min=-128, act_max=127)
        case[0].name += f"_tables_{ls}_{zp}"
        cases.append(case)
    r6 = np.random.default_rng(seed + 1)   # (its own stream: the cases above stay as they were)
    # mve pw_k, dw3, pw_run, rows4: ReLU6-style, the clamp below int8's top; and a ReLU over
    # the whole int8 range with C < 16 (no full chunk for mve's pw_run_sat)
    for shape in [TRAINED_SHAPES[i] for i in (2, 3, 7, 8, 0, 6)]:
        case = trained_requant(_conv_case(r6, shape), r6, 0.0, 0.0, 0.0)
        case[2].zero_point = -128
        case[0].attrs.update(act_min=-128, act_max=100)
        case[0].name += "_relu6"
        cases.append(case)
    case = _conv_case(r6, (4, 5, 12, 8, 1, 1, [0, 0, 0, 0], 1, 1))
    case[2].zero_point = -128
    case[0].attrs.update(act_min=-128, act_max=127)
    case[0].name += "_relu_full"
    cases.append(case)
    return cases


def _pool_cases(rng: np.random.Generator) -> list[tuple]:
    """avg_pool windows the mve / dsp kernels treat apart: more than 255 positions (the
    portable loop; an input of -128 whose sum overflows int16), 1 and 2 positions at padded
    corners and edges, channels not a multiple of 8 (mve) or 4 (dsp)."""
    out = []
    for name, g in (("avg_pool_17x17_c13", avg_pool(rng, h=17, w=17, c=13)),
                    ("avg_pool_17x17_c16", avg_pool(rng, h=17, w=17, c=16)),
                    ("avg_pool_3x3_c13", avg_pool(rng, h=3, w=3, c=13)),
                    ("avg_pool_2x2_s2_pad_c12", avg_pool(rng, h=5, w=5, c=12, kernel=[2, 2],
                                                         stride=2, padding=[1, 1, 1, 1]))):
        x = sample_input(g, rng)
        if name.startswith("avg_pool_17"):
            x = np.full_like(x, -128)
        acts = run(g, x, keep_all=True)
        node = next(n for n in g.nodes if n.op == "avg_pool")
        node.name = name
        out.append((node, [g.tensors[t] for t in node.inputs], g.tensors[node.outputs[0]],
                    [acts[t] for t in node.inputs]))
    return out


def dw_s_form_cases(rng: np.random.Generator) -> list[tuple]:
    """ReLU-style depthwise 3x3 (the dsp S form, packing.dw3_table) at its bounds, blocks of 4
    channels: right shifts 4 and 10 (the window's ends: taps x 2^8 and x 2^4) with -128 taps;
    3 and 11 (just outside); a bias whose taps scaled by 2^8 would pass 2^31; near-dead
    channels (right shift 22) whose outputs are not constant yet (|a * m| just above
    2^52 - 2^30), next to ones that are; both clamp forms."""
    cases = []
    for full in (False, True):
        case = _conv_case(rng, (6, 7, 24, 24, 3, 1, [1, 1, 1, 1], 1, 24))
        node, yt = case[0], case[2]
        w, m, b = node.params["weight"], node.params["multiplier"], node.params["bias"]
        w[rng.random(w.shape) < 0.3] = -128
        node.params["shift"] = -np.array([4, 10, 4, 10, 3, 7, 7, 7, 11, 7, 7, 7, 4, 4, 4, 4,
                                          22, 22, 22, 22, 7, 7, 7, 7], np.int32)
        w[12], b[12] = -128, (1 << 23) - 9 * 255 * 128 + 1   # a * 2^8 reaches 2^31: not S
        b[16:20] = [1 << 21, -(1 << 21), 1 << 16, 0]      # near-dead: 2 vary, 2 constant
        m[16:20] = INT32_MAX
        case[1][0].zero_point = 127                       # x - zp down to -255
        yt.zero_point = -128 if full else int(rng.integers(-128, 0))
        node.attrs.update(act_min=int(yt.zero_point), act_max=127)
        node.name += "_dw_s_form" + ("_full" if full else "")
        case[3][0][:] = np.where(rng.random(case[3][0].shape) < 0.5, 127, -128)
        case[3][0][..., 12] = -128
        cases.append(case)
    return cases


def w16_s_form_cases(rng: np.random.Generator) -> list[tuple]:
    """ReLU-style convs on int16 weights (the dsp w16 S form: packing.w16_exponents scales a
    channel's weights, w16_exp in C agrees) at its bounds, pointwise and a small window, odd
    output channels (the last one, scaled, apart), -128 weights against x - zp = -255:
    right shifts 4 and 10 (the window's ends), a bias at the scaled accumulator's bound (a
    small multiplier: outputs not saturated), a zero multiplier, a constant near-dead
    channel, a dead one. `mixed` adds a near-dead channel that is not constant ("near": that
    alone) and right shifts 3 and 11 and the bias one past that bound (so the chunk keeps the
    previous form, scaled channels and all); both clamp forms; and the whole int8 range with
    a negative multiplier (no ReLU-style form: scaled channels through emb_requant)."""
    cases = []
    for shape in ((5, 5, 16, 23, 1, 1, [0, 0, 0, 0], 1, 1), (9, 9, 3, 7, 3, 2, [0, 0, 1, 1], 1, 1)):
        k = shape[4] * -(-shape[4] * shape[2] // 4) * 4
        for mixed, full, neg in ((False, False, False), (False, True, False), ("near", True, False),
                                 (True, False, False), (True, True, False), (False, True, True)):
            case = _conv_case(rng, shape)
            node, yt = case[0], case[2]
            w, m, b = node.params["weight"], node.params["multiplier"], node.params["bias"]
            w[rng.random(w.shape) < 0.3] = -128
            sh = np.full(len(b), -7, np.int32)
            sh[0::5], sh[1::5] = -4, -10
            sh[2], b[2] = -4, (1 << 23) - k * 255 * 128 - (0 if mixed is True else 1)
            m[2] = 100 << 12   # outputs about 90..100: not saturated
            m[3] = 0
            sh[4], m[4], b[4] = -22, INT32_MAX, 0
            w[5] = 0
            if mixed:   # a near-dead channel that is not constant (alone: "near")
                sh[1], m[1], b[1] = -22, INT32_MAX, 1 << 21
            if mixed is True:
                sh[6], sh[0] = -3, -11
            if neg:
                m[6] = -(1 << 30)
            node.params["shift"] = sh
            case[1][0].zero_point = 127
            case[3][0][:] = np.where(rng.random(case[3][0].shape) < 0.5, 127, -128)
            yt.zero_point = -128 if full else int(rng.integers(-128, 0))
            node.attrs.update(act_min=int(yt.zero_point), act_max=127)
            node.name += f"_w16_s_{mixed}_{full}_{neg}"
            cases.append(case)
    return cases


def w16_sn_cases(rng: np.random.Generator) -> list[tuple]:
    """Linear convs over the whole int8 range on int16 weights (the dsp signed S form:
    packing.w16_exponents scales every channel of the layer or none, w16_lin in C agrees),
    pointwise and a small window, odd output channels: small weights and right shifts of 4
    (outputs not saturated, half of the accumulators negative: the sign term decides about a
    sixteenth of them), shifts of 10, a -128 channel with its bias at the scaled
    accumulator's bound. `off`: one channel shifted by 11 (past the window) or a zero
    multiplier, so no channel is scaled (form 0)."""
    cases = []
    for shape in ((5, 5, 16, 23, 1, 1, [0, 0, 0, 0], 1, 1), (9, 9, 3, 7, 3, 2, [0, 0, 1, 1], 1, 1)):
        k = shape[4] * -(-shape[4] * shape[2] // 4) * 4
        for off in (None, "shift", "zero"):
            case = _conv_case(rng, shape)
            node, yt = case[0], case[2]
            w, m, b = node.params["weight"], node.params["multiplier"], node.params["bias"]
            w[:] = rng.integers(-2, 3, w.shape)
            w[1] = -128
            b[:] = rng.integers(-300, 300, len(b))
            sh = np.full(len(b), -4, np.int32)
            sh[0::3] = -10
            sh[1], b[1] = -4, (1 << 23) - k * 255 * 128 - 1
            if off == "shift":
                sh[3] = -11
            if off == "zero":
                m[3] = 0
            node.params["shift"] = sh
            yt.zero_point = int(rng.integers(-20, 20))
            node.attrs.update(act_min=-128, act_max=127)
            node.name += f"_w16_sn_{off}"
            cases.append(case)
    return cases


def node_cases(seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = [_conv_case(rng, s) for s in CONV_SHAPES]
    cases += [_fc_case(rng, c, oc) for c, oc in FC_SHAPES]
    edge = (CONV_SHAPES[1], CONV_SHAPES[5], CONV_SHAPES[11])   # pointwise, first conv, dw
    cases += [_edge_requant(_conv_case(rng, s), rng) for s in edge]
    cases.append(_edge_requant(_conv_case(rng, CONV_SHAPES[11]), rng, left_max=12))
    cases.append(_edge_requant(_fc_case(rng, 40, 9), rng))
    return (cases + trained_cases() + dw_s_form_cases(rng) +
            w16_s_form_cases(np.random.default_rng(seed + 7)) +   # (its own stream)
            w16_sn_cases(np.random.default_rng(seed + 11)) +
            _builder_cases(rng) + _pool_cases(rng))


def kernel_cases(variant: str, seed: int = 0,
                 compact: bool = False) -> tuple[list[kc.KernelCase], list[np.ndarray]]:
    """Kernel calls and the reference output each must produce (`compact`: dsp pointwise
    weights kept int8, packing.py)."""
    rng = np.random.default_rng(seed + 1000)
    calls, want = [], []
    for node, in_t, out_t, xs in node_cases(seed):
        y = apply(node, xs, in_t, out_t)
        if node.op != "concat":
            calls.append(kc.case_from_node(node, in_t, out_t, xs, variant, compact=compact))
            want.append(y)
            if node.op == "lut":   # in place as well
                c = kc.case_from_node(node, in_t, out_t, xs, variant, in_place=True)
                c.label = node.name + "/inplace"
                calls.append(c)
                want.append(y)
            continue
        off = 0
        for i, t in enumerate(in_t):   # other slices hold y already, this one garbage
            init = y.copy()
            init[..., off:off + t.shape[-1]] = rng.integers(-128, 128, init[..., off:off + t.shape[-1]].shape)
            off += t.shape[-1]
            c = kc.case_from_node(node, in_t, out_t, xs, variant, i, init)
            c.label = f"{node.name}/in{i}"
            calls.append(c)
            want.append(y)
    return calls, want


@pytest.fixture(scope="module", params=HOST_VARIANTS)
def host_driver(request, tmp_path_factory) -> kc.Driver:
    return kc.build_host(request.param, tmp_path_factory.mktemp(f"kdrv_{request.param}"))


def test_kernels_match_reference_on_host(host_driver):
    calls, want = kernel_cases(host_driver.variant)
    got = kc.run(host_driver, calls)
    bad = [c.label for c, r, y in zip(calls, got, want) if not np.array_equal(r.output, y)]
    assert len(calls) > 50
    assert not bad, f"{host_driver.variant}: {len(bad)}/{len(calls)} cases differ: {bad}"


def test_dsp_compact_pointwise_weights_match_reference_on_host(tmp_path):
    driver = kc.build_host("dsp", tmp_path)
    calls, want = kernel_cases("dsp", compact=True)
    conv = [(c, y) for c, y in zip(calls, want) if c.op == "conv2d"]
    got = kc.run(driver, [c for c, _ in conv])
    bad = [c.label for (c, y), r in zip(conv, got) if not np.array_equal(r.output, y)]
    assert not bad, f"dsp compact: {len(bad)}/{len(conv)} conv cases differ: {bad}"


def test_mbqm_matches_fixedpoint(host_driver):
    rng = np.random.default_rng(7)
    n = 4000
    x = rng.integers(INT32_MIN, INT32_MAX, n, dtype=np.int64, endpoint=True)
    x[:200] = rng.integers(-300, 300, 200)
    m = rng.integers(0, INT32_MAX, n, dtype=np.int64, endpoint=True)
    m[200:400] = rng.integers(1 << 30, INT32_MAX, 200)
    s = rng.integers(-31, 31, n)
    x[-1], m[-1], s[-1] = INT32_MIN, INT32_MIN, 0           # the saturating SRDHM case
    x[-2], m[-2], s[-2] = INT32_MAX, INT32_MAX, 30          # left shift wraps
    x[-3], m[-3], s[-3] = -1, INT32_MAX, -31
    got = kc.run(host_driver, [kc.mbqm_case(x, m, s)])[0].output
    np.testing.assert_array_equal(got, mbqm(x, m, s).astype(np.int32))


def test_kernels_mk_replaces_portable_files():
    for variant in VARIANTS:
        srcs = kc.kernel_sources(variant)
        names = [p.name for p in srcs]
        assert len(names) == len(set(names)), names       # one file per op
        assert {p.parent.name for p in srcs} <= {"portable", variant}
        if variant != "portable":
            assert any(p.parent.name == variant for p in srcs)
