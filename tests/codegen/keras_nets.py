"""MobileNetV2-like Keras nets exported to int8 .tflite, for whole-model runtime tests and the
runtime benchmark. Stride-2 layers use explicit symmetric padding (as the project's torch export
does), so the converter emits PAD ops; the head flattens (RESHAPE) before the classifier."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tinyhil.ml.export import keras_to_int8_tflite


@dataclass(frozen=True)
class NetConfig:
    resolution: int = 32
    channels: int = 3
    width: int = 8  # stem channels
    expansion: int = 4
    stages: tuple[tuple[int, int, int], ...] = ((8, 1, 1), (16, 2, 2), (24, 2, 2))  # (out channels, blocks, stride)
    classes: int = 10
    softmax: bool = True
    kernels: tuple[int, ...] = ()  # depthwise window per stage (3x3 where not given)

    def kernel(self, stage: int) -> int:
        return self.kernels[stage] if stage < len(self.kernels) else 3


def _block(x, cin: int, cout: int, stride: int, expansion: int, kernel: int = 3):
    from tensorflow import keras
    L = keras.layers
    h = x
    if expansion != 1:
        h = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(cin * expansion, 1, use_bias=False)(h)))
    if stride == 2:
        h = L.ZeroPadding2D(((kernel // 2, kernel // 2), (kernel // 2, kernel // 2)))(h)
    h = L.DepthwiseConv2D(kernel, strides=stride, padding="valid" if stride == 2 else "same", use_bias=False)(h)
    h = L.ReLU(6.0)(L.BatchNormalization()(h))
    h = L.BatchNormalization()(L.Conv2D(cout, 1, use_bias=False)(h))
    return L.Add()([x, h]) if stride == 1 and cin == cout else h


def build_keras(cfg: NetConfig, seed: int = 0):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras
    L = keras.layers
    tf.random.set_seed(seed)
    inp = keras.Input((cfg.resolution, cfg.resolution, cfg.channels), batch_size=1)  # static Flatten
    x = L.ZeroPadding2D(((1, 1), (1, 1)))(inp)
    x = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(cfg.width, 3, strides=2, use_bias=False)(x)))
    cin = cfg.width
    for stage, (cout, blocks, stride) in enumerate(cfg.stages):
        for b in range(blocks):
            x = _block(x, cin, cout, stride if b == 0 else 1, 1 if cin == cfg.width and b == 0 else cfg.expansion,
                       cfg.kernel(stage))
            cin = cout
    x = L.Flatten()(L.GlobalAveragePooling2D(keepdims=True)(x))
    x = L.Dense(cfg.classes)(x)
    if cfg.softmax:
        x = L.Softmax()(x)
    return keras.Model(inp, x)


def export_int8(cfg: NetConfig, seed: int = 0) -> bytes:
    return export_model_int8(build_keras(cfg, seed), seed)


def export_model_int8(model, seed: int = 0) -> bytes:
    """int8 .tflite of any Keras `model`, its BatchNorm given non-trivial statistics (so activations are not
    all alike), calibrated on 8 normal samples."""
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            gamma, beta = rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n)
            # scale=False (InceptionV3) / center=False layers have no gamma / beta weight (drawn anyway: same draws)
            layer.set_weights([*([gamma] if layer.scale else []), *([beta] if layer.center else []),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)])
    shape = tuple(int(d) for d in model.input_shape[1:])
    samples = [rng.standard_normal((1, *shape)).astype(np.float32) for _ in range(8)]
    return keras_to_int8_tflite(model, samples)


def macs_of(blob: bytes) -> int:
    from tinyhil.codegen.lower import lower
    from tinyhil.codegen.reader import read_tflite
    return sum(layer.macs for layer in lower(read_tflite(blob)))


def estimate_macs(cfg: NetConfig) -> int:
    """Analytic MACs of build_keras(cfg) (to size benchmark nets before exporting them)."""
    res = cfg.resolution // 2
    macs = res * res * 9 * cfg.channels * cfg.width
    cin = cfg.width
    for stage, (cout, blocks, stride) in enumerate(cfg.stages):
        for b in range(blocks):
            expansion = 1 if cin == cfg.width and b == 0 else cfg.expansion
            hidden = cin * expansion
            if expansion != 1:
                macs += res * res * cin * hidden
            res = res // (stride if b == 0 else 1)
            macs += res * res * hidden * cfg.kernel(stage) ** 2 + res * res * hidden * cout
            cin = cout
    return macs + cin * cfg.classes


def build_fire_keras(resolution: int = 24, seed: int = 0):
    """A SqueezeNet-like net (fire modules: a 1x1 squeeze, then 1x1 and 3x3 expansions concatenated on the
    channels), as TFLiteConverter sees it: ReLU after each conv (folded), a ReLU6 after a concatenation of two
    fire modules (standalone), a max pool, a squeezed 1-D head. Ops: CONV_2D, CONCATENATION, RELU6,
    MAX_POOL_2D, MEAN, RESHAPE (the converter writes tf.squeeze so), SOFTMAX."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras
    L = keras.layers
    tf.random.set_seed(seed)

    def fire(x, squeeze: int, expand: int):
        s = L.ReLU()(L.Conv2D(squeeze, 1)(x))
        return L.Concatenate()([L.ReLU()(L.Conv2D(expand, 1)(s)), L.ReLU()(L.Conv2D(expand, 3, padding="same")(s))])

    inp = keras.Input((resolution, resolution, 3), batch_size=1)
    x = L.ReLU()(L.Conv2D(16, 3, strides=2, padding="same")(inp))
    x = fire(x, 8, 16)
    x = L.ReLU(6.0)(L.Concatenate()([x, fire(x, 8, 12)]))
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.Conv2D(10, 1)(x)
    x = L.Lambda(lambda t: tf.squeeze(t, axis=[1, 2]))(L.GlobalAveragePooling2D(keepdims=True)(x))
    return keras.Model(inp, L.Softmax()(x))
