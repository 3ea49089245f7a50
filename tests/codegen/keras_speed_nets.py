"""Keras nets for the op classes the MobileNetV2-like nets leave out, exported to int8 .tflite: a
dense-only autoencoder (FULLY_CONNECTED only), a DS-CNN-like keyword-spotting net with k x 1 and
1 x k depthwise filters on an audio feature map, and a 1-channel 96-px net whose stem is a
depthwise conv with depth multiplier 8. Used by benchmarks/runtime.py and the QEMU kernel tests."""

from __future__ import annotations

import os

import numpy as np

from .keras_nets import export_model_int8 as export_int8  # noqa: F401 (the tests and benchmark call it from here)


def _keras(seed: int = 0):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.random.set_seed(seed)  # the initial weights
    return tf.keras


def dense_autoencoder(features: int = 640, hidden: tuple[int, ...] = (128, 128, 128, 128, 8, 128, 128, 128, 128)):
    """The anomaly-detection autoencoder shape (MLPerf Tiny's ToyADMOS net): Dense + ReLU, linear output."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((features,), batch_size=1)
    x = inp
    for width in hidden:
        x = L.ReLU()(L.BatchNormalization()(L.Dense(width)(x)))
    return keras.Model(inp, L.Dense(features)(x))


def ds_cnn_audio(frames: int = 49, bins: int = 10, width: int = 64, classes: int = 12):
    """A DS-CNN-like keyword spotter on a 49x10 feature map: a 10x4 stride-2 stem over one channel,
    then depthwise-separable blocks whose depthwise filters are k x 1 (along time) or 1 x k."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((frames, bins, 1), batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(width, (10, 4), strides=2, padding="same", use_bias=False)(inp)))
    for kernel in ((5, 1), (1, 3), (3, 1), (5, 1)):
        x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(kernel, padding="same", use_bias=False)(x)))
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(width, 1, use_bias=False)(x)))
    x = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(x))
    return keras.Model(inp, L.Softmax()(L.Dense(classes)(x)))


def mono_multiplier_stem(resolution: int = 96, multiplier: int = 8, classes: int = 2, channels: int = 1):
    """A 1-channel (grayscale) 96-px net whose stem is a 3x3 stride-2 depthwise conv with depth
    multiplier 8 (each input channel expanded to 8 outputs), then two separable stages."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input((resolution, resolution, channels), batch_size=1)
    x = L.ZeroPadding2D(((1, 1), (1, 1)))(inp)
    x = L.ReLU(6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=2, depth_multiplier=multiplier,
                                                              use_bias=False)(x)))
    for cout in (16, 32):
        x = L.ZeroPadding2D(((1, 1), (1, 1)))(x)
        x = L.ReLU(6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=2, use_bias=False)(x)))
        x = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(cout, 1, use_bias=False)(x)))
    x = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(x))
    return keras.Model(inp, L.Softmax()(L.Dense(classes)(x)))


