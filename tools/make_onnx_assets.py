"""Make the small float `.onnx` test assets in tests/assets/ with the real converters.

Not a project dependency: run with a Python that has `tensorflow-cpu` (2.21 was used) plus
`tf2onnx` (1.17.0) and `tflite2onnx` (0.4.1) installed with --no-deps next to `onnx`:
    /tmp/tfvenv/bin/pip install --target /tmp/t2o --no-deps tf2onnx==1.17.0 tflite2onnx==0.4.1 \
        onnx tflite
    PYTHONPATH=/tmp/t2o /tmp/tfvenv/bin/python tools/make_onnx_assets.py tests/assets
Random-weight Keras networks (seeded), a few KB each:
  keras_v3_block_tf2onnx.onnx     a MobileNetV3-style block through tf2onnx (NHWC input,
                                  Transposes, Keras' spelled-out h-swish/h-sigmoid, SE,
                                  ZeroPadding2D, residual, Dense);
  tflite_v1_tflite2onnx.onnx      a MobileNetV1-style net converted to a float .tflite by
                                  TensorFlow's converter, then by tflite2onnx.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers as L


def _hard_sigmoid(x):
    return L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def v3_block() -> keras.Model:
    x = inp = keras.Input((16, 16, 3), batch_size=1)
    x = L.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = L.Conv2D(8, 3, strides=2, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Multiply()([x, _hard_sigmoid(x)])                          # h-swish
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    s = L.GlobalAveragePooling2D(keepdims=True)(y)
    s = L.Conv2D(4, 1, activation="relu")(s)
    s = _hard_sigmoid(L.Conv2D(8, 1)(s))
    y = L.Multiply()([y, s])
    y = L.Conv2D(8, 1, use_bias=False)(y)
    y = L.BatchNormalization()(y)
    x = L.Add()([x, y])
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    return keras.Model(inp, L.Softmax()(x))


def v1_net() -> keras.Model:
    x = inp = keras.Input((16, 16, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.AveragePooling2D(8)(x)
    x = L.Conv2D(10, 1)(x)
    x = L.Reshape((10,))(x)
    return keras.Model(inp, L.Softmax()(x))


def _randomize(m: keras.Model, rng: np.random.Generator) -> keras.Model:
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.uniform(-0.2, 0.2, b.shape),
                               rng.uniform(-0.5, 0.5, mean.shape),
                               rng.uniform(0.5, 2.0, var.shape)])
    return m


def main(out: Path) -> None:
    import tf2onnx
    import tflite2onnx

    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    spec = (tf.TensorSpec((1, 16, 16, 3), tf.float32, name="input"),)
    tf2onnx.convert.from_keras(_randomize(v3_block(), rng), input_signature=spec, opset=13,
                               output_path=str(out / "keras_v3_block_tf2onnx.onnx"))
    with tempfile.TemporaryDirectory() as d:
        tfl = Path(d) / "v1.tflite"
        tfl.write_bytes(tf.lite.TFLiteConverter.from_keras_model(v1_net()).convert())
        tflite2onnx.convert(str(tfl), str(out / "tflite_v1_tflite2onnx.onnx"))
    for p in sorted(out.glob("*_tf*2onnx.onnx")):
        print(p, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/assets"))
