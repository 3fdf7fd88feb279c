"""Make the small int8 `.tflite` test assets in tests/assets/ with TensorFlow's own converter.

Not a project dependency: run with a Python that has `tensorflow-cpu` (2.21 was used):
    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tools/make_tflite_assets.py tests/assets
Each model is a small random-weight Keras network converted fully-integer (int8 input and
output, TFLITE_BUILTINS_INT8, a seeded random representative dataset), so the files are what
users get from `TFLiteConverter`, a few KB each.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers as L


def mobilenet_like() -> keras.Model:
    """Conv/ReLU6, depthwise (multiplier 1 and 2), residual ADD, hard-swish, SE (MEAN,
    LOGISTIC, MUL), global MEAN, FULLY_CONNECTED, SOFTMAX."""
    x = inp = keras.Input((16, 16, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 1)(y)
    x = L.Add()([x, y])
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="valid")(x)
    x = L.Activation("hard_swish")(x)
    se = L.GlobalAveragePooling2D(keepdims=True)(x)
    se = L.Conv2D(16, 1, activation="sigmoid")(se)
    x = L.Multiply()([x, se])
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    return keras.Model(inp, L.Softmax()(x))


def pool_pad_resize() -> keras.Model:
    """MAX_POOL_2D, AVERAGE_POOL_2D, PAD, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR,
    CONCATENATION, tanh, RESHAPE."""
    x = inp = keras.Input((12, 12, 4), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    a = L.MaxPooling2D(2)(x)
    b = L.AveragePooling2D(3, strides=2, padding="same")(x)
    x = L.Concatenate()([a, b])
    x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
    x = L.Conv2D(8, 3, activation="tanh")(x)
    u = L.Resizing(24, 24, interpolation="bilinear")(x)
    n = L.Resizing(24, 24, interpolation="nearest")(x)
    x = L.Add()([u, n])
    return keras.Model(inp, L.Reshape((24 * 24 * 8,))(x))


def convert(model: keras.Model, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (1, *model.input_shape[1:])

    def data():
        for _ in range(32):
            yield [rng.uniform(-1, 1, shape).astype(np.float32)]
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = data
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return c.convert()


def main(out: Path) -> None:
    keras.utils.set_random_seed(0)
    for i, (name, make) in enumerate((("keras_mobilenet_like", mobilenet_like),
                                      ("keras_pool_pad_resize", pool_pad_resize))):
        data = convert(make(), i)
        (out / f"{name}.tflite").write_bytes(data)
        print(name, len(data), "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
