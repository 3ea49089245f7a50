"""The Keras twin of model.TinyNet, for TFLite export. BatchNorm is folded into each conv (float-exact up to
rounding); stride-2 convs get explicit symmetric padding (torch pads k//2 on both sides, TF 'same' pads (0, 1)).
The exported graph uses CONV_2D / DEPTHWISE_CONV_2D (ReLU6 fused), PAD, ADD, MEAN, FULLY_CONNECTED."""

from __future__ import annotations

import numpy as np

from . import tf_quiet
from .model import ConvBN, TinyNet


def fold_bn(layer: ConvBN) -> tuple[np.ndarray, np.ndarray]:
    """(weight OIHW, bias) with BatchNorm folded in."""
    w = layer.conv.weight.detach().double().cpu().numpy()
    bn = layer.bn
    scale = (bn.weight.detach().double() / (bn.running_var.detach().double() + bn.eps).sqrt()).cpu().numpy()
    bias = bn.bias.detach().double().cpu().numpy() - bn.running_mean.detach().double().cpu().numpy() * scale
    return (w * scale.reshape(-1, 1, 1, 1)).astype(np.float32), bias.astype(np.float32)


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
    x = conv(x)
    return tf.keras.layers.ReLU(6.0)(x) if layer.relu6 else x


def build_keras(model: TinyNet, in_channels: int):
    """A tf.keras.Model (NHWC input) computing the same logits as `model` in eval mode."""
    tf = tf_quiet.tensorflow()

    model = model.eval()
    r = model.spec.resolution
    inputs = tf.keras.Input((r, r, in_channels), batch_size=1)
    x = inputs
    for block in model.blocks:
        y = x
        for layer in block.layers:
            y = _conv(y, layer)
        x = tf.keras.layers.Add()([x, y]) if block.residual else y
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    dense = tf.keras.layers.Dense(model.classifier.out_features)
    dense.build(x.shape)
    dense.set_weights([model.classifier.weight.detach().cpu().numpy().T, model.classifier.bias.detach().cpu().numpy()])
    return tf.keras.Model(inputs, dense(x))
