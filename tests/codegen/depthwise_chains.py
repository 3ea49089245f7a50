"""Chains of DEPTHWISE_CONV_2D layers (depth multiplier 1) built straight as .tflite, for the pair kernel
(depthwise_conv2d_pairs.c): every window, stride and padding edge in one model, so one firmware build runs
them all. No CONV_2D around them, so no layer fuses into an inverted-residual block."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tflite_builder import OpSpec, TensorSpec, build_graph, conv_options


@dataclass(frozen=True)
class Depthwise:
    k_h: int
    k_w: int
    stride: int = 1
    padding: str = "SAME"
    activation: str = "NONE"


def _out(size: int, k: int, stride: int, padding: str) -> int:
    return (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride


def depthwise_chain(layers: tuple[Depthwise, ...], h: int, w: int, channels: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    scale = float(rng.uniform(0.01, 0.1))
    tensors = [TensorSpec((1, h, w, channels), scale=(scale,), zero_point=(int(rng.integers(-128, 128)),))]
    ops = []
    for layer in layers:
        h, w = _out(h, layer.k_h, layer.stride, layer.padding), _out(w, layer.k_w, layer.stride, layer.padding)
        w_scales = tuple(float(s) for s in rng.uniform(2e-3, 0.05, channels))
        out_scale = float(rng.uniform(0.01, 0.2))
        first = len(tensors)
        tensors += [TensorSpec((1, layer.k_h, layer.k_w, channels), scale=w_scales, zero_point=(0,) * channels, axis=3,
                               data=rng.integers(-127, 128, size=(1, layer.k_h, layer.k_w, channels)).astype(np.int8)),
                    TensorSpec((channels,), "int32", scale=tuple(scale * s for s in w_scales), zero_point=(0,) * channels,
                               data=rng.integers(-3000, 3000, size=channels).astype(np.int32)),
                    TensorSpec((1, h, w, channels), scale=(out_scale,), zero_point=(int(rng.integers(-100, 100)),))]
        ops.append(OpSpec("DEPTHWISE_CONV_2D", [first - 1, first, first + 1], [first + 2],
                          conv_options((layer.stride, layer.stride), (1, 1), layer.padding, layer.activation,
                                       depth_multiplier=1)))
        scale = out_scale
    return build_graph(tensors, ops, 0, len(tensors) - 1)


# 3x3 at stride 1 and 2, SAME (odd and even left padding) and VALID, odd output widths (13, 3), clamped
# (RELU: the zero point; RELU6) and unclamped activations: every loop of the pair kernel
PAIR_KERNEL_CHAIN = (Depthwise(3, 3), Depthwise(3, 3, activation="RELU"), Depthwise(3, 3, 2, "VALID"),
                     Depthwise(3, 3, activation="RELU6"), Depthwise(3, 3, 2, activation="RELU"), Depthwise(3, 3),
                     Depthwise(3, 3, 2))
