"""Small float ONNX models in the shapes other converters write, built with onnx.helper.

tflite2onnx: NHWC model input, a Transpose to NCHW, convolutions, and Transpose pairs around
the classifier's reshape (TFLite's layout restored before RESHAPE); tf2onnx (Keras): NHWC
input, zero Pad, residual Add, a squeeze-excite gate, ReduceMean over the NHWC spatial axes,
a Transpose before Reshape before Gemm, MatMul + Add; torch.onnx: NCHW, Constant nodes,
Concat, Resize, Flatten + Gemm. Random weights (seeded).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Net:
    """Accumulates nodes and initializers; `x` is the current activation name."""

    def __init__(self, seed: int, x: str = "x"):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.x = x
        self.n = 0

    def const(self, arr: np.ndarray, as_node: bool = False) -> str:
        self.n += 1
        name = f"c{self.n}"
        t = numpy_helper.from_array(np.asarray(arr), name)
        if as_node:
            self.nodes.append(helper.make_node("Constant", [], [name], value=t))
        else:
            self.inits.append(t)
        return name

    def op(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        out = f"{name}:0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.x = out
        return out

    def conv(self, name: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
             pads: int | None = None, act: str | None = "relu6") -> str:
        w = self.rng.normal(0, (2.0 / (k * k * cin / group)) ** 0.5, (cout, cin // group, k, k))
        b = self.rng.normal(0, 0.1, cout)
        p = k // 2 if pads is None else pads
        y = self.op("Conv", [self.x, self.const(w.astype(np.float32)),
                             self.const(b.astype(np.float32))], name, kernel_shape=[k, k],
                    strides=[stride, stride], pads=[p] * 4, group=group)
        if act == "relu6":
            y = self.op("Clip", [y, self.const(np.float32(0)), self.const(np.float32(6))],
                        name + "/Relu6")
        elif act == "relu":
            y = self.op("Relu", [y], name + "/Relu")
        return y

    def model(self, in_shape: list[int], out_shape: list[int], opset: int) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(self.x, TensorProto.FLOAT,
                                                             out_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


def tflite2onnx_v1(opset: int = 11) -> onnx.ModelProto:
    """MobileNetV1-like 16x16x3 NHWC, as tflite2onnx converts TFLite's MobileNetV1."""
    n = Net(1)
    n.op("Transpose", ["x"], "input_transpose", perm=[0, 3, 1, 2])
    n.conv("MobilenetV1/Conv2d_0", 3, 8, 3, stride=2)
    n.conv("MobilenetV1/Conv2d_1_depthwise", 8, 8, 3, group=8)
    n.conv("MobilenetV1/Conv2d_1_pointwise", 8, 16, 1)
    n.op("AveragePool", [n.x], "MobilenetV1/Logits/AvgPool_1a", kernel_shape=[8, 8],
         strides=[2, 2])
    n.op("Transpose", [n.x], "MobilenetV1/Logits/AvgPool_1a/transpose", perm=[0, 2, 3, 1])
    n.op("Transpose", [n.x], "MobilenetV1/Logits/Conv2d_1c_1x1/transpose", perm=[0, 3, 1, 2])
    n.conv("MobilenetV1/Logits/Conv2d_1c_1x1", 16, 10, 1, act=None)
    n.op("Transpose", [n.x], "MobilenetV1/Logits/Conv2d_1c_1x1/transpose_out",
         perm=[0, 2, 3, 1])
    n.op("Reshape", [n.x, n.const(np.array([1, 10], np.int64))],
         "MobilenetV1/Logits/SpatialSqueeze")
    n.op("Softmax", [n.x], "MobilenetV1/Predictions/Softmax", axis=1 if opset < 13 else -1)
    return n.model([1, 16, 16, 3], [1, 10], opset)


def tf2onnx_keras(opset: int = 13) -> onnx.ModelProto:
    """Keras-style NHWC model as tf2onnx writes it: NHWC Pad, residual, SE gate, flatten."""
    n = Net(2)
    n.op("Pad", ["x", n.const(np.array([0, 0, 0, 0, 0, 1, 1, 0], np.int64))], "zero_padding2d")
    n.op("Transpose", [n.x], "zero_padding2d__5", perm=[0, 3, 1, 2])
    conv = n.conv("Conv1", 3, 8, 3, stride=2, pads=0, act=None)     # 17x17 -> 8x8
    n.op("Add", [conv, n.const(np.float32(3.0))], "Conv1/hard_swish/add")   # Keras' h-swish
    n.op("Clip", [n.x, n.const(np.float32(0)), n.const(np.float32(6))], "Conv1/hard_swish/Relu6")
    n.op("Mul", [n.x, n.const(np.float32(1 / 6))], "Conv1/hard_swish/mul")
    stem = n.op("Mul", [conv, n.x], "Conv1/hard_swish/mul_1")
    n.conv("expanded_conv/depthwise", 8, 8, 3, group=8)
    n.conv("expanded_conv/project", 8, 8, 1, act=None)
    n.op("Add", [stem, n.x], "block_1_add")
    body = n.x
    n.op("GlobalAveragePool", [body], "se/squeeze")
    n.conv("se/reduce", 8, 4, 1, act="relu")
    n.conv("se/expand", 4, 8, 1, act=None)
    n.op("HardSigmoid", [n.x], "se/hard_sigmoid", alpha=1.0 / 6, beta=0.5)
    n.op("Mul", [body, n.x], "se/excite")
    n.op("Transpose", [n.x], "head/transpose", perm=[0, 2, 3, 1])       # back to NHWC
    left = n.x
    if opset >= 18:
        n.op("ReduceMean", [left, n.const(np.array([1, 2], np.int64))],
             "global_average_pooling2d", keepdims=0)
    else:
        n.op("ReduceMean", [left], "global_average_pooling2d", axes=[1, 2], keepdims=0)
    pooled = n.x
    n.op("Reshape", [left, n.const(np.array([1, -1], np.int64))], "flatten")   # NHWC order
    w = n.rng.normal(0, 0.05, (8 * 8 * 8, 6)).astype(np.float32)
    n.op("Gemm", [n.x, n.const(w), n.const(n.rng.normal(0, 0.1, 6).astype(np.float32))],
         "dense_flat")
    flat = n.x
    n.op("MatMul", [pooled, n.const(n.rng.normal(0, 0.5, (8, 6)).astype(np.float32))],
         "dense/MatMul")
    n.op("Add", [n.x, n.const(n.rng.normal(0, 0.1, 6).astype(np.float32))], "dense/BiasAdd")
    n.op("Add", [n.x, flat], "logits")
    n.op("Unsqueeze", [n.x, n.const(np.array([1, 2], np.int64))], "unsqueeze")
    n.op("Squeeze", [n.x, n.const(np.array([1, 2], np.int64))], "squeeze")
    n.op("Softmax", [n.x], "predictions")
    return n.model([1, 16, 16, 3], [1, 6], opset)


def torch_style(opset: int = 17) -> onnx.ModelProto:
    """NCHW, Constant nodes, preprocessing Sub/Div, Concat, Resize, HardSwish, Flatten+Gemm."""
    n = Net(3)
    n.op("Sub", ["x", n.const(np.array([0.5, 0.4, 0.3], np.float32).reshape(1, 3, 1, 1),
                              as_node=True)], "/normalize/Sub")
    n.op("Div", [n.x, n.const(np.array([0.2, 0.25, 0.3], np.float32).reshape(1, 3, 1, 1),
                              as_node=True)], "/normalize/Div")
    a = n.conv("/stem/Conv", 3, 6, 3, stride=2, act=None)
    n.op("HardSwish", [a], "/stem/act/HardSwish")
    a = n.x
    b = n.conv("/branch/Conv", 6, 6, 1, act="relu")
    n.op("Concat", [a, b], "/cat/Concat", axis=1)
    n.op("Resize", [n.x, "", n.const(np.array([1, 1, 2, 2], np.float32), as_node=True)],
         "/up/Resize", mode="linear", coordinate_transformation_mode="half_pixel")
    n.conv("/head/Conv", 12, 8, 3, stride=2)
    n.op("Sigmoid", [n.x], "/head/gate/Sigmoid")
    n.op("GlobalAveragePool", [n.x], "/pool/GlobalAveragePool")
    n.op("Flatten", [n.x], "/Flatten", axis=1)
    n.op("Gemm", [n.x, n.const(n.rng.normal(0, 0.5, (5, 8)).astype(np.float32)),
                  n.const(n.rng.normal(0, 0.1, 5).astype(np.float32))], "/fc/Gemm", transB=1)
    return n.model([1, 3, 16, 16], [1, 5], opset)


BUILDERS = {"tflite2onnx": tflite2onnx_v1, "tf2onnx": tf2onnx_keras, "torch": torch_style}
