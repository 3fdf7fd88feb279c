"""int8 `.tflite` -> QGraph: each TFLite op against LiteRT op by op, untrusted files, CLI.

The models are written here with the schema's generated code (`tflite_models.py`), with
quantization parameters chosen by the test, as a foreign converter would write them.
Convolutions are checked bit-exact against LiteRT's reference kernels and within 1 LSB of
its optimized builtin kernels (their vectorized paths round the final shift half up), and so
are MEAN and FULLY_CONNECTED; every other op is checked bit-exact against both.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tflite_helpers import per_node_diffs
from tflite_models import Model

from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import litert_run, qgraph
from edgemobilenet.quant.reference import run
from edgemobilenet.quant.tflite_import import from_bytes, load
from edgemobilenet.quant.tflite_schema import Act, Op, schema

BO = schema.BuiltinOptions
S_X, Z_X = 0.043, -7


def _opts(cls, **kw):
    o = cls()
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def _weights(rng, shape, per_channel_dim: int | None):
    w = rng.integers(-127, 128, shape).astype(np.int8)
    n = shape[per_channel_dim] if per_channel_dim is not None else 1
    return w, (rng.uniform(0.002, 0.02, n)).astype(np.float32)


def conv_model(rng, *, depthwise=False, mult=1, padding=schema.Padding.SAME, stride=1,
               dilation=1, act=Act.RELU6, per_channel=True, c=6, hw=9, k=3,
               uint8_io=False, groups=1) -> bytes:
    m = Model()
    if uint8_io:
        xin = m.tensor("image", (1, hw, hw, c), np.uint8, S_X, Z_X + 128)
        x = m.tensor("x", (1, hw, hw, c), np.int8, S_X, Z_X)
        m.op(Op.QUANTIZE, [xin], [x], BO.QuantizeOptions, schema.QuantizeOptionsT())
    else:
        x = xin = m.tensor("x", (1, hw, hw, c), np.int8, S_X, Z_X)
    oc = c * mult if depthwise else 10
    shape = (1, k, k, oc) if depthwise else (oc, k, k, c // groups)
    w, ws = _weights(rng, shape, (3 if depthwise else 0) if per_channel else None)
    wt = m.tensor("w", shape, np.int8, ws, [0] * len(ws), w, qdim=3 if depthwise else 0)
    bs = (np.float32(S_X) * np.broadcast_to(ws, (oc,))).astype(np.float32)
    b = m.tensor("b", (oc,), np.int32, bs, [0] * oc, rng.integers(-3000, 3000, oc))
    eff = dilation * (k - 1) + 1
    out_hw = (hw + stride - 1) // stride if padding == schema.Padding.SAME else \
        (hw - eff) // stride + 1
    y = m.tensor("y", (1, out_hw, out_hw, oc), np.int8, 0.05, 11)
    if depthwise:
        m.op(Op.DEPTHWISE_CONV_2D, [x, wt, b], [y], BO.DepthwiseConv2DOptions,
             _opts(schema.DepthwiseConv2DOptionsT, padding=padding, strideH=stride,
                   strideW=stride, depthMultiplier=mult, dilationHFactor=dilation,
                   dilationWFactor=dilation, fusedActivationFunction=act))
    else:
        m.op(Op.CONV_2D, [x, wt, b], [y], BO.Conv2DOptions,
             _opts(schema.Conv2DOptionsT, padding=padding, strideH=stride, strideW=stride,
                   dilationHFactor=dilation, dilationWFactor=dilation,
                   fusedActivationFunction=act))
    out = y
    if uint8_io:
        out = m.tensor("scores", (1, out_hw, out_hw, oc), np.float32)
        m.op(Op.DEQUANTIZE, [y], [out])
    return m.build([xin], [out])


def fc_model(rng, *, flatten: bool) -> bytes:
    m = Model()
    shape = (1, 2, 2, 5) if flatten else (1, 20)
    x = m.tensor("x", shape, np.int8, S_X, Z_X)
    w, ws = _weights(rng, (7, 20), None)
    wt = m.tensor("w", (7, 20), np.int8, ws, [0], w)
    b = m.tensor("b", (7,), np.int32, [S_X * ws[0]], [0], rng.integers(-3000, 3000, 7))
    y = m.tensor("y", (1, 7), np.int8, 0.09, -20)
    m.op(Op.FULLY_CONNECTED, [x, wt, b], [y], BO.FullyConnectedOptions,
         _opts(schema.FullyConnectedOptionsT, fusedActivationFunction=Act.RELU))
    return m.build([x], [y])


def _unary_chain(build) -> bytes:
    m = Model()
    x = m.tensor("x", (1, 6, 5, 8), np.int8, S_X, Z_X)
    y = build(m, x)
    return m.build([x], [y])


def add_model(act=Act.RELU) -> bytes:
    def b(m, x):
        q = m.tensor("q", (1, 6, 5, 8), np.int8, 0.031, 20)
        m.op(Op.QUANTIZE, [x], [q], BO.QuantizeOptions, schema.QuantizeOptionsT())
        y = m.tensor("y", (1, 6, 5, 8), np.int8, 0.07, -3)
        m.op(Op.ADD, [x, q], [y], BO.AddOptions, _opts(schema.AddOptionsT,
                                                         fusedActivationFunction=act))
        return y
    return _unary_chain(b)


def _global_pool(m, x: int) -> int:
    """AVERAGE_POOL_2D of the (1, 6, 5, 8) input over its whole map: (1, 1, 1, 8)."""
    p = m.tensor("pooled", (1, 1, 1, 8), np.int8, S_X, Z_X)
    m.op(Op.AVERAGE_POOL_2D, [x], [p], BO.Pool2DOptions,
         _opts(schema.Pool2DOptionsT, padding=schema.Padding.VALID, strideH=1, strideW=1,
               filterHeight=6, filterWidth=5))
    return p


def mul_model(swap: bool) -> bytes:
    def b(m, x):
        p = _global_pool(m, x)
        y = m.tensor("y", (1, 6, 5, 8), np.int8, 0.06, 4)
        m.op(Op.MUL, [p, x] if swap else [x, p], [y], BO.MulOptions, schema.MulOptionsT())
        return y
    return _unary_chain(b)


def pool_model(code: int, act: int) -> bytes:
    """AVERAGE_POOL_2D / MAX_POOL_2D, 3x3 stride 2 SAME."""
    def b(m, x):
        y = m.tensor("y", (1, 3, 3, 8), np.int8, S_X, Z_X)
        m.op(code, [x], [y], BO.Pool2DOptions,
             _opts(schema.Pool2DOptionsT, padding=schema.Padding.SAME, strideH=2, strideW=2,
                   filterHeight=3, filterWidth=3, fusedActivationFunction=act))
        return y
    return _unary_chain(b)


def mean_model(keep_dims: bool) -> bytes:
    def b(m, x):
        y = m.tensor("y", (1, 1, 1, 8) if keep_dims else (1, 8), np.int8, 0.011, 31)
        axes = m.tensor("axes", (2,), np.int32, data=np.array([1, 2], np.int32))
        m.op(Op.MEAN, [x, axes], [y], BO.ReducerOptions,
             _opts(schema.ReducerOptionsT, keepDims=keep_dims))
        return y
    return _unary_chain(b)


def pad_model() -> bytes:
    def b(m, x):
        y = m.tensor("y", (1, 8, 6, 8), np.int8, S_X, Z_X)
        pads = m.tensor("pads", (4, 2), np.int32,
                        data=np.array([[0, 0], [1, 1], [0, 1], [0, 0]], np.int32))
        m.op(Op.PAD, [x, pads], [y], BO.PadOptions, schema.PadOptionsT())
        return y
    return _unary_chain(b)


def resize_model(code: int, align: bool, half: bool) -> bytes:
    def b(m, x):
        y = m.tensor("y", (1, 11, 4, 8), np.int8, S_X, Z_X)
        size = m.tensor("size", (2,), np.int32, data=np.array([11, 4], np.int32))
        nearest = code == Op.RESIZE_NEAREST_NEIGHBOR
        cls = schema.ResizeNearestNeighborOptionsT if nearest else schema.ResizeBilinearOptionsT
        kind = BO.ResizeNearestNeighborOptions if nearest else BO.ResizeBilinearOptions
        m.op(code, [x, size], [y], kind, _opts(cls, alignCorners=align, halfPixelCenters=half))
        return y
    return _unary_chain(b)


def reshape_concat_model() -> bytes:
    def b(m, x):
        c = m.tensor("cat", (1, 6, 5, 16), np.int8, S_X, Z_X)
        m.op(Op.CONCATENATION, [x, x], [c], BO.ConcatenationOptions,
             _opts(schema.ConcatenationOptionsT, axis=-1))
        r = m.tensor("flat", (1, 480), np.int8, S_X, Z_X)
        shape = m.tensor("shape", (2,), np.int32, data=np.array([1, 480], np.int32))
        m.op(Op.RESHAPE, [c, shape], [r], BO.ReshapeOptions,
             _opts(schema.ReshapeOptionsT, newShape=[1, 480]))
        return r
    return _unary_chain(b)


def squeeze_model() -> bytes:
    def b(m, x):
        p = _global_pool(m, x)
        y = m.tensor("y", (1, 8), np.int8, S_X, Z_X)
        m.op(Op.SQUEEZE, [p], [y], BO.SqueezeOptions,
             _opts(schema.SqueezeOptionsT, squeezeDims=[1, 2]))
        return y
    return _unary_chain(b)


def elementwise_model(code: int, s_out: float, zp_out: int) -> bytes:
    def b(m, x):
        y = m.tensor("y", (1, 6, 5, 8), np.int8, s_out, zp_out)
        m.op(code, [x], [y])
        return y
    return _unary_chain(b)


CONV_CASES = {
    "conv_same_relu6": dict(),
    "conv_valid_s2_per_tensor": dict(padding=schema.Padding.VALID, stride=2, per_channel=False,
                                     act=Act.NONE),
    "conv_dilated": dict(dilation=2, act=Act.RELU_N1_TO_1),
    "conv_grouped": dict(groups=2),
    "depthwise_same": dict(depthwise=True),
    "depthwise_mult2_valid_s2": dict(depthwise=True, mult=2, padding=schema.Padding.VALID,
                                     stride=2, act=Act.NONE),
    "conv_uint8_in_float_out": dict(uint8_io=True, act=Act.RELU),
}
OTHER_CASES = {
    "fc_relu": lambda rng: fc_model(rng, flatten=False),
    "fc_flatten_4d": lambda rng: fc_model(rng, flatten=True),
    "add_relu_requantize": lambda rng: add_model(),
    "mul_broadcast": lambda rng: mul_model(False),
    "mul_broadcast_first": lambda rng: mul_model(True),
    "avg_pool_3x3_s2_same": lambda rng: pool_model(Op.AVERAGE_POOL_2D, Act.NONE),
    "max_pool_3x3_s2_same_relu": lambda rng: pool_model(Op.MAX_POOL_2D, Act.RELU),
    "mean_keep_dims": lambda rng: mean_model(True),
    "mean_squeezed": lambda rng: mean_model(False),
    "concat_reshape": lambda rng: reshape_concat_model(),
    "pad": lambda rng: pad_model(),
    "resize_bilinear_half_pixel": lambda rng: resize_model(Op.RESIZE_BILINEAR, False, True),
    "resize_bilinear_align": lambda rng: resize_model(Op.RESIZE_BILINEAR, True, False),
    "resize_nearest_half_pixel": lambda rng: resize_model(Op.RESIZE_NEAREST_NEIGHBOR, False,
                                                          True),
    "resize_nearest_asymmetric": lambda rng: resize_model(Op.RESIZE_NEAREST_NEIGHBOR, False,
                                                          False),
    "squeeze": lambda rng: squeeze_model(),
    "logistic": lambda rng: elementwise_model(Op.LOGISTIC, 1 / 256, -128),
    "tanh": lambda rng: elementwise_model(Op.TANH, 1 / 128, 0),
    "hard_swish": lambda rng: elementwise_model(Op.HARD_SWISH, 0.031, -90),
    "relu": lambda rng: elementwise_model(Op.RELU, 0.02, -128),
    "relu6": lambda rng: elementwise_model(Op.RELU6, 0.025, -128),
    "relu_n1_to_1": lambda rng: elementwise_model(Op.RELU_N1_TO_1, 0.008, 0),
}


def _input(data: bytes, rng) -> np.ndarray:
    d = litert_run.interpreter(data).get_input_details()[0]
    info = np.iinfo(d["dtype"])
    return rng.integers(info.min, info.max + 1, d["shape"]).astype(d["dtype"])


@pytest.mark.parametrize("case", sorted(CONV_CASES) + sorted(OTHER_CASES))
def test_each_op_matches_litert_op_by_op(case, tmp_path):
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    data = conv_model(rng, **CONV_CASES[case]) if case in CONV_CASES else \
        OTHER_CASES[case](rng)
    (tmp_path / "m.tflite").write_bytes(data)
    g = load(tmp_path / "m.tflite")
    for trial in range(2):
        x = _input(data, rng)
        ref = per_node_diffs(g, data, x, "ref")
        assert max(ref.values()) == 0, ref
        opt = per_node_diffs(g, data, x, "builtin")
        loose = case in CONV_CASES or case.startswith(("mean", "fc"))
        assert max(opt.values()) <= (1 if loose else 0), opt


def test_boundary_quantize_dequantize_kept_outside(rng):
    data = conv_model(rng, uint8_io=True)
    g = from_bytes(data)
    assert g.meta["tflite_io"]["input_dtype"] == "uint8"
    assert g.meta["tflite_io"]["output_dtype"] == "float32"
    assert [n.op for n in g.nodes] == ["conv2d"]
    it = litert_run.interpreter(data, "ref", keep_all=True)
    x = _input(data, rng)
    y = litert_run.run(it, x)
    x8 = it.get_tensor(1)  # the int8 tensor QUANTIZE made
    ours = run(g, x8)[g.outputs[0]]
    np.testing.assert_allclose(y, 0.05 * (ours.astype(np.float32) - 11), rtol=0, atol=1e-6)


def _sub_model() -> bytes:
    def b(m, x):
        y = m.tensor("y", (1, 6, 5, 8), np.int8, S_X, Z_X)
        m.op(Op.SUB, [x, x], [y], BO.SubOptions, schema.SubOptionsT())
        return y
    return _unary_chain(b)


def test_unsupported_op_is_one_line_exit_2(tmp_path):
    path = tmp_path / "sub.tflite"
    path.write_bytes(_sub_model())
    r = CliRunner().invoke(main, ["quantize", str(path), "-o", str(tmp_path / "m.qgraph")],
                           standalone_mode=False)
    assert isinstance(r.exception, EdgembError)
    msg = str(r.exception)
    assert "operator 0" in msg and "SUB" in msg and "\n" not in msg and str(path) in msg
    assert not (tmp_path / "m.qgraph").exists()


def test_quantize_cli_imports_tflite(tmp_path, rng):
    path = tmp_path / "m.tflite"
    path.write_bytes(conv_model(rng))
    r = CliRunner().invoke(main, ["quantize", str(path), "-o", str(tmp_path / "m.qgraph"),
                                  "--json"])
    assert r.exit_code == 0, r.output
    g = qgraph.load(tmp_path / "m.qgraph")
    assert g.digest() == load(path).digest() and g.nodes[0].op == "conv2d"


def _error(data: bytes, tmp_path) -> str | None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    try:
        load(path)
    except EdgembError as e:
        msg = str(e)
        assert str(path) in msg and "\n" not in msg
        return msg
    return None


def test_truncated_foreign_and_empty_files(tmp_path, rng):
    data = conv_model(rng)
    for n in (0, 4, 8, 40, len(data) // 2, len(data) - 1):
        assert _error(data[:n], tmp_path) is not None
    assert "TFL3" in _error(b"\x89PNG\r\n\x1a\n" + bytes(100), tmp_path)
    assert "TFL3" in _error(b"PK\x03\x04" + bytes(100), tmp_path)  # a .qgraph (zip)
    assert "no such file" in str(pytest.raises(EdgembError, load, tmp_path / "none.tflite").value)


def test_bit_flips_never_crash(tmp_path):
    """Every single-byte corruption loads (and validates) or is one EdgembError line."""
    rng = np.random.default_rng(7)
    data = bytearray(conv_model(rng, c=3, hw=5))
    errors = 0
    for i in range(400):
        bad = bytearray(data)
        pos = int(rng.integers(0, len(bad)))
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        errors += _error(bytes(bad), tmp_path) is not None
    assert errors > 0


def test_eval_compares_with_litert(tmp_path):
    """Our int8 on DATA against LiteRT's reference kernels running the file: identical."""
    from tflite_helpers import one_op_graph

    from edgemobilenet.quant.tflite_export import export_tflite
    path = tmp_path / "m.tflite"
    export_tflite(one_op_graph("fc"), path)
    import json
    r = CliRunner().invoke(main, ["eval", str(path), "--data", "fashion-mnist", "--limit", "20",
                                  "--litert-kernels", "ref", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output.strip().splitlines()[-1])
    assert res["images"] == 20 and res["runtime"] == "litert"
    assert res["exact_images"] == 1.0 and res["agreement"] == 1.0
    table = CliRunner().invoke(main, ["eval", str(path), "--data", "fashion-mnist", "--limit",
                                      "20", "--litert-kernels", "ref"]).output
    assert "LiteRT (ref kernels" in table and "edgemb int8" in table
    assert "top-1 agreement 100.00%" in table


@pytest.mark.parametrize("name,ops", [
    ("keras_mobilenet_like", {"conv2d", "add", "lut", "mul", "reshape",
                              "fully_connected_single_round"}),
    ("keras_pool_pad_resize", {"conv2d", "avg_pool", "max_pool", "concat", "lut",
                               "resize_table", "add", "reshape"}),
])
def test_tensorflow_converter_models_bit_exact(name, ops, rng):
    """Keras models converted by TensorFlow's TFLiteConverter (tools/make_tflite_assets.py).
    keras_mobilenet_like: conv/ReLU6, depthwise (multiplier 1 and 2), residual ADD, HARD_SWISH,
    squeeze-excite (MEAN, LOGISTIC, MUL), MEAN, per-channel FULLY_CONNECTED; its final SOFTMAX
    stays outside the QGraph (it ends at the logits). keras_pool_pad_resize: MAX_POOL_2D,
    AVERAGE_POOL_2D, CONCATENATION, PAD (folded into the conv), TANH, RESIZE_BILINEAR,
    RESIZE_NEAREST_NEIGHBOR, ADD, RESHAPE."""
    path = Path(__file__).parent / "assets" / f"{name}.tflite"
    data = path.read_bytes()
    g = load(path)
    assert {n.op for n in g.nodes} == ops
    # and back: TFLite's own ops again (no table lookups), the same QGraph
    from edgemobilenet.quant.tflite_export import to_tflite
    res = to_tflite(g)
    assert res.inexact == [] and from_bytes(res.data).digest() == g.digest()
    ops_back = {o["op_name"] for o in litert_run.interpreter(res.data)._get_ops_details()}
    assert not ops_back & {"GATHER", "CAST"}
    for trial in range(2):
        x = _input(data, rng)
        assert max(per_node_diffs(g, data, x, "ref").values()) == 0
        assert max(per_node_diffs(g, data, x, "builtin").values()) <= 1
