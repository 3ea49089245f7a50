"""A small Keras net made of the paper's block ingredients, exported to int8 by the project's converter
path (tinyhil.ml.export.keras_to_int8_tflite): Conv + LeakyReLU(0.01), hard-swish written as
x * relu6(x + 3) / 6 (the converter emits HARD_SWISH), squeeze-excitation (global average pool ->
1x1 conv + ReLU -> 1x1 conv + sigmoid -> multiply: MEAN, CONV_2D on a 1x1 map, LOGISTIC, broadcast
MUL), swish as x * sigmoid(x) (LOGISTIC + MUL), a residual ADD, and the classifier."""

from __future__ import annotations

import os

import numpy as np

from tinyhil.ml.export import keras_to_int8_tflite

EXPECTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "LEAKY_RELU", "HARD_SWISH", "MEAN", "LOGISTIC", "MUL", "ADD",
                "FULLY_CONNECTED"}


def build_keras(resolution: int, channels: int = 3, width: int = 8, classes: int = 5, seed: int = 0):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras
    L = keras.layers
    tf.random.set_seed(seed)

    def squeeze_excitation(x, ratio: float):
        c = x.shape[-1]
        s = L.GlobalAveragePooling2D(keepdims=True)(x)
        s = L.Conv2D(max(1, int(c * ratio)), 1, activation="relu")(s)
        s = L.Conv2D(c, 1, activation="sigmoid")(s)
        return L.Multiply()([x, s])

    def hard_swish(x):
        return L.Multiply()([x, L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])

    inp = keras.Input((resolution, resolution, channels), batch_size=1)
    x = L.LeakyReLU(0.01)(L.Conv2D(width, 3, padding="same")(inp))
    h = hard_swish(L.Conv2D(width * 3, 1)(x))                   # MBConv expand, hard-swish
    h = L.LeakyReLU(0.01)(L.DepthwiseConv2D(3, padding="same")(h))
    h = squeeze_excitation(h, 0.25)
    x = L.Add()([x, L.Conv2D(width, 1)(h)])                     # project + residual
    h = L.Conv2D(width * 2, 1)(x)
    h = L.Multiply()([h, L.Activation("sigmoid")(h)])           # swish as x * sigmoid(x)
    h = squeeze_excitation(L.DepthwiseConv2D(3, strides=2, padding="same")(h), 0.5)
    x = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(h))
    return keras.Model(inp, L.Dense(classes)(x))


def export_int8(resolution: int = 12, seed: int = 0) -> bytes:
    model = build_keras(resolution, seed=seed)
    rng = np.random.default_rng(seed)
    samples = [rng.standard_normal((1, resolution, resolution, 3)).astype(np.float32) for _ in range(8)]
    return keras_to_int8_tflite(model, samples)


def export_mbconv_block(resolution: int, channels: int, expansion: int, activation: str = "leaky",
                        seed: int = 0) -> bytes:
    """One of the paper's MBConv blocks with a residual: 1x1 expand -> act -> 3x3 depthwise -> act ->
    1x1 project -> ADD, activation "leaky" (LeakyReLU 0.01) or "hswish" (x * relu6(x + 3) / 6)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras
    L = keras.layers
    tf.random.set_seed(seed)

    def act(x):
        if activation == "leaky":
            return L.LeakyReLU(0.01)(x)
        return L.Multiply()([x, L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])

    inp = keras.Input((resolution, resolution, channels), batch_size=1)
    h = act(L.Conv2D(channels * expansion, 1)(inp))
    h = act(L.DepthwiseConv2D(3, padding="same")(h))
    out = L.Add()([inp, L.Conv2D(channels, 1)(h)])
    rng = np.random.default_rng(seed)
    samples = [rng.standard_normal((1, resolution, resolution, channels)).astype(np.float32) for _ in range(8)]
    return keras_to_int8_tflite(keras.Model(inp, out), samples)
