"""The reference executor, op by op.

1. Against float semantics: dequantize each node's int8 inputs, run the float op (torch)
   with dequantized parameters, requantize (round half to even, clamp to the node's
   activation range) and require |int8 difference| <= 1 everywhere. Why 1 is the bound:
   conv / fully_connected accumulate exactly in integers, so the only difference is MBQM
   (multiplier rounded to 2^-31 relative, gemmlowp rounding of ties) against float
   rounding: at most one step at a tie. add rescales both inputs to 2^-20 steps first (error
   < 2^-19 LSB) before one rounding; mul, concat likewise round once. avg_pool rounds half
   away from zero where numpy rounds half to even. resize_bilinear rounds the sampling
   positions to 1/1024 pixel: |error| <= 255 * 2 / 1024 < 0.5 LSB before rounding. softmax
   rounds exp to 2^-16 relative (< 0.01 LSB at scale 1/256). lut is a table of exactly
   this float computation (difference 0).
2. Against a naive transcription of OPS.md (Python loops) for the vectorised kernels whose
   indexing could go wrong: conv2d (padding, stride, dilation, groups, depthwise),
   avg_pool with padding, resize_bilinear.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import qgraph_builders as qb

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.fixedpoint import mbqm, round_div_away
from edgemobilenet.quant.reference import run, run_node

EXACT_OPS = {"lut", "reshape", "max_pool"}


def _node_diffs(g, x):
    """Per node: max |reference - requantized float op| on the reference's own inputs."""
    env = run(g, x, keep_all=True)
    out = []
    for node in g.nodes:
        in_t = [g.tensors[t] for t in node.inputs]
        out_t = g.tensors[node.outputs[0]]
        xs = [qb.dequantize(env[t], q) for t, q in zip(node.inputs, in_t)]
        act = ops.activation(node)
        want = qb.quantize(qb.float_forward(node, xs, in_t), out_t, act.act_min, act.act_max)
        got = env[node.outputs[0]]
        assert got.dtype == np.int8 and got.shape == want.shape
        out.append((node, int(np.abs(got.astype(np.int32) - want).max()),
                    float(np.mean(got == want))))
    return out


@pytest.mark.parametrize("case", sorted(qb.SINGLE_OP_BUILDERS))
def test_op_matches_float_within_one_lsb(case):
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    g = qb.SINGLE_OP_BUILDERS[case](rng)
    for seed in range(3):  # fresh inputs, not the calibration sample
        x = qb.sample_input(g, np.random.default_rng(100 + seed))
        for node, diff, exact in _node_diffs(g, x):
            bound = 0 if node.op in EXACT_OPS else 1
            assert diff <= bound, f"{case}: node {node.name} ({node.op}) differs by {diff}"
            # ties (x.5) round differently by design; anything else must agree exactly
            assert exact > 0.75, f"{case}: node {node.name} only {exact:.0%} exact"


def test_small_mobilenet_v2_every_node_within_one_lsb():
    g = qb.mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    x = qb.sample_input(g, np.random.default_rng(7))
    for node, diff, _ in _node_diffs(g, x):
        assert diff <= 1, f"node {node.name} ({node.op}) differs by {diff}"


# -- naive transcription of OPS.md --------------------------------------------------------
def _naive_conv(g, x):
    node = g.nodes[0]
    a, p = node.attrs, node.params
    w = p["weight"].astype(np.int64)
    oc, kh, kw, cg = w.shape
    zp, zp_y = g.tensors[g.inputs[0]].zero_point, g.tensors[node.outputs[0]].zero_point
    (sh, sw), (dh, dw), (t, l, b, r) = a["stride"], a["dilation"], a["padding"]
    _, h, wd, c = x.shape
    oh = (h + t + b - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + l + r - dw * (kw - 1) - 1) // sw + 1
    og = oc // a["groups"]
    y = np.zeros((1, oh, ow, oc), np.int8)
    for oy in range(oh):
        for ox in range(ow):
            for o in range(oc):
                acc = int(p["bias"][o])
                g0 = (o // og) * cg
                for i in range(kh):
                    for j in range(kw):
                        iy, ix = oy * sh + i * dh - t, ox * sw + j * dw - l
                        if 0 <= iy < h and 0 <= ix < wd:
                            for ic in range(cg):
                                acc += (int(x[0, iy, ix, g0 + ic]) - zp) * int(w[o, i, j, ic])
                v = int(mbqm(np.int64(acc), p["multiplier"][o], p["shift"][o])) + zp_y
                y[0, oy, ox, o] = min(max(v, a["act_min"]), a["act_max"])
    return y


@pytest.mark.parametrize("case", ["conv3x3", "conv3x3_s2_relu6", "conv5x5_asym_pad",
                                  "conv_dilated", "conv_grouped", "depthwise3x3_s2",
                                  "depthwise5x5", "conv1x1_relu"])
def test_conv_matches_naive_loops(case):
    g = qb.SINGLE_OP_BUILDERS[case](np.random.default_rng(1))
    x = qb.sample_input(g, np.random.default_rng(2))
    np.testing.assert_array_equal(run(g, x)[g.outputs[0]], _naive_conv(g, x))


def test_avg_pool_with_padding_matches_naive_loops():
    g = qb.avg_pool(np.random.default_rng(1), h=6, w=5, c=3, kernel=[3, 2], stride=2,
                    padding=[1, 1, 1, 0])
    x = qb.sample_input(g, np.random.default_rng(2))
    node = g.nodes[0]
    y = run(g, x)[g.outputs[0]]
    for oy in range(y.shape[1]):
        for ox in range(y.shape[2]):
            ys = [oy * 2 - 1 + i for i in range(3) if 0 <= oy * 2 - 1 + i < 6]
            xs = [ox * 2 - 1 + j for j in range(2) if 0 <= ox * 2 - 1 + j < 5]
            win = x[0][np.ix_(ys, xs)].astype(np.int64)
            want = round_div_away(win.sum(axis=(0, 1)), len(ys) * len(xs))
            np.testing.assert_array_equal(y[0, oy, ox], np.clip(want, node.attrs["act_min"],
                                                                node.attrs["act_max"]))


@pytest.mark.parametrize("h,w,size", [(5, 7, (12, 9)), (9, 8, (4, 5)), (1, 3, (2, 3))])
def test_resize_matches_naive_loops(h, w, size):
    g = qb.resize_bilinear(np.random.default_rng(1), h=h, w=w, c=2, size=size)
    x = qb.sample_input(g, np.random.default_rng(2))
    zp = g.tensors[g.inputs[0]].zero_point
    y = run(g, x)[g.outputs[0]]

    def src(o, n_in, n_out):
        s = max(0, ((2 * o + 1) * n_in * 1024) // (2 * n_out) - 512)
        return s >> 10, min((s >> 10) + 1, n_in - 1), s & 1023

    for oy in range(size[0]):
        y0, y1, fy = src(oy, h, size[0])
        for ox in range(size[1]):
            x0, x1, fx = src(ox, w, size[1])
            for c in range(2):
                q = lambda i, j: int(x[0, i, j, c]) - zp  # noqa: E731
                v = (q(y0, x0) * (1024 - fy) * (1024 - fx) + q(y0, x1) * (1024 - fy) * fx
                     + q(y1, x0) * fy * (1024 - fx) + q(y1, x1) * fy * fx)
                assert y[0, oy, ox, c] == min(max(((v + (1 << 19)) >> 20) + zp, -128), 127)


def test_softmax_hand_computed():
    g = qb.softmax(np.random.default_rng(0), c=3, scale=0.5)
    table = g.nodes[0].params["exp_table"]
    assert table[0] == 65536 and table[2] == round(np.exp(-1.0) * 65536)
    x = np.array([[10, 8, 10]], np.int8)  # d = 0, 2, 0
    e = [65536, int(table[2]), 65536]
    s = sum(e)
    want = [min(max((ei * 256 + s // 2) // s - 128, -128), 127) for ei in e]
    np.testing.assert_array_equal(run(g, x)[g.outputs[0]], [want])


def test_every_registered_op_has_a_reference_and_a_builder():
    from edgemobilenet.quant.ops import OPS
    assert all(callable(s.reference) for s in OPS.values())
    rng = np.random.default_rng(0)
    built = {n.op for b in qb.SINGLE_OP_BUILDERS.values() for n in b(rng).nodes}
    assert set(OPS) - built <= {"reshape"}, set(OPS) - built   # reshape: in mul_se


def test_run_rejects_wrong_input():
    g = qb.conv2d(np.random.default_rng(0))
    with pytest.raises(EdgembError, match="expected int8"):
        run(g, np.zeros((1, 9, 9, 8), np.float32))
    with pytest.raises(EdgembError, match="expected int8"):
        run(g, np.zeros((1, 8, 9, 8), np.int8))


def test_run_keep_all_and_run_node_agree():
    g = qb.mul(np.random.default_rng(0))
    x = qb.sample_input(g, np.random.default_rng(1))
    env = run(g, x, keep_all=True)
    assert set(env) == set(g.tensors)
    for node in g.nodes:
        y = run_node(g, node, [env[t] for t in node.inputs])
        np.testing.assert_array_equal(y, env[node.outputs[0]])
    assert set(run(g, x)) == set(g.outputs)
