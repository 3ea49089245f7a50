"""The Keras twin of model.TinyNet, for TFLite export. BatchNorm is folded into each conv (float-exact up to
rounding); stride-2 convs get explicit symmetric padding (torch pads k//2 on both sides, TF 'same' pads (0, 1)).

The exported int8 graph: CONV_2D / DEPTHWISE_CONV_2D (ReLU6 / ReLU fused), LEAKY_RELU and HARD_SWISH after
the conv they follow, PAD, ADD (shortcuts; a projection shortcut is one more 1x1 CONV_2D), squeeze-excitation as
MEAN (keep_dims) -> CONV_2D 1x1 (ReLU) -> CONV_2D 1x1 -> LOGISTIC -> MUL (channel broadcast), then MEAN and
FULLY_CONNECTED. cost.spec_graph builds the same graph from the spec."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import tf_quiet
from .model import LEAKY_SLOPE, ConvBN, SqueezeExcite, TinyNet

if TYPE_CHECKING:
    import tensorflow as tf


def fold_bn(layer: ConvBN) -> tuple[np.ndarray, np.ndarray]:
    """(weight OIHW, bias) with BatchNorm folded in."""
    w = layer.conv.weight.detach().double().cpu().numpy()
    bn = layer.bn
    scale = (bn.weight.detach().double() / (bn.running_var.detach().double() + bn.eps).sqrt()).cpu().numpy()
    bias = bn.bias.detach().double().cpu().numpy() - bn.running_mean.detach().double().cpu().numpy() * scale
    return (w * scale.reshape(-1, 1, 1, 1)).astype(np.float32), bias.astype(np.float32)


def _activation(x, activation: str):
    layers = tf_quiet.tensorflow().keras.layers
    if activation == "relu6":
        return layers.ReLU(6.0)(x)
    if activation == "relu":
        return layers.ReLU()(x)
    if activation == "leakyrelu":
        return layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(x)
    if activation == "hswish":
        return layers.Activation("hard_swish")(x)  # x * relu6(x + 3) / 6, as torch's Hardswish
    return x


def _pointwise(x, weight: np.ndarray, bias: np.ndarray, activation: str | None = None):
    """A 1x1 Conv2D with the given OIHW weight and bias."""
    conv = tf_quiet.tensorflow().keras.layers.Conv2D(weight.shape[0], 1, activation=activation)
    conv.build(x.shape)
    conv.set_weights([weight.transpose(2, 3, 1, 0), bias])
    return conv(x)


def _conv(x, layer: ConvBN):
    tf = tf_quiet.tensorflow()

    w, b = fold_bn(layer)
    pad = "same"
    if layer.stride > 1 and layer.kernel > 1:
        p = layer.kernel // 2
        x = tf.keras.layers.ZeroPadding2D(((p, p), (p, p)))(x)
        pad = "valid"
    if layer.depthwise:
        conv = tf.keras.layers.DepthwiseConv2D(layer.kernel, layer.stride, padding=pad)
        conv.build(x.shape)
        conv.set_weights([w.transpose(2, 3, 0, 1), b])  # (C,1,k,k) -> (k,k,C,1)
    else:
        conv = tf.keras.layers.Conv2D(w.shape[0], layer.kernel, layer.stride, padding=pad)
        conv.build(x.shape)
        conv.set_weights([w.transpose(2, 3, 1, 0), b])  # OIHW -> HWIO
    return _activation(conv(x), layer.activation)


def _squeeze_excite(x, se: SqueezeExcite):
    layers = tf_quiet.tensorflow().keras.layers

    def weights(conv):
        return conv.weight.detach().cpu().numpy(), conv.bias.detach().cpu().numpy()

    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = _pointwise(gate, *weights(se.reduce), activation="relu")
    gate = layers.Activation("sigmoid")(_pointwise(gate, *weights(se.expand)))
    return layers.Multiply()([x, gate])


def build_keras(model: TinyNet, in_channels: int) -> "tf.keras.Model":
    """A tf.keras.Model (NHWC input) computing the same logits as `model` in eval mode."""
    tf = tf_quiet.tensorflow()

    model = model.eval()
    r = model.spec.resolution
    inputs = tf.keras.Input((r, r, in_channels), batch_size=1)
    x = inputs
    for block in model.blocks:
        y = x
        for layer in block.layers:
            y = _squeeze_excite(y, layer) if isinstance(layer, SqueezeExcite) else _conv(y, layer)
        if block.residual:
            x = tf.keras.layers.Add()([_conv(x, block.projection) if block.projection is not None else x, y])
        else:
            x = y
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    dense = tf.keras.layers.Dense(model.classifier.out_features)
    dense.build(x.shape)
    dense.set_weights([model.classifier.weight.detach().cpu().numpy().T, model.classifier.bias.detach().cpu().numpy()])
    return tf.keras.Model(inputs, dense(x))
