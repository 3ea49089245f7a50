"""Small int8 CNNs made the way tinyhil's exporter makes them (Keras -> TFLiteConverter, int8 in/out,
representative dataset), with random weights: models no one hand-tuned for the runtime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinyhil.ml.export import keras_to_int8_tflite


def mobilenet_like_tflite(out_path: Path, input_hw: int = 32, in_channels: int = 3, width: int = 24,
                          num_classes: int = 10, seed: int = 0) -> Path:
    """conv3x3 -> 2 inverted-residual-free separable blocks -> global average pool -> dense.
    At the defaults (32x32x3, width 24) it is ~5.9 M MACs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    layers = tf.keras.layers
    x = inputs = tf.keras.Input((input_hw, input_hw, in_channels), batch_size=1)
    x = layers.Conv2D(width, 3, padding="same", activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Conv2D(2 * width, 1, activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = layers.Conv2D(4 * width, 1, activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Conv2D(4 * width, 1, activation="relu6")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes)(x)
    model = tf.keras.Model(inputs, outputs)

    rng = np.random.default_rng(seed)
    samples = [rng.uniform(-1, 1, (1, input_hw, input_hw, in_channels)).astype(np.float32) for _ in range(16)]
    Path(out_path).write_bytes(keras_to_int8_tflite(model, samples))
    return Path(out_path)
