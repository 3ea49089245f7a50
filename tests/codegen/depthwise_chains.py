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

# 5x5 (and the same with 7x7) at stride 1 and 2 on the pair kernel: SAME (odd and even left padding) and VALID, odd output widths, clamped
# (RELU, RELU6) and unclamped, after a stride-2 3x3 that holds the arena's peak (so their larger rings fit under it)
PAIR_5X5_CHAIN = (Depthwise(3, 3, 2), Depthwise(5, 5), Depthwise(5, 5, activation="RELU"), Depthwise(5, 5, 1, "VALID"),
                  Depthwise(5, 5, 2, activation="RELU6"), Depthwise(5, 5, 2))
PAIR_5X5_LOOPS = ("5x5_s1", "5x5_s1_clamp", "5x5_s1", "5x5_s2_clamp", "5x5_s2")
PAIR_7X7_CHAIN = tuple(Depthwise(7, 7, layer.stride, layer.padding, layer.activation) if layer.k_h == 5 else layer
                       for layer in PAIR_5X5_CHAIN)
PAIR_7X7_LOOPS = tuple(loop.replace("5x5", "7x7") for loop in PAIR_5X5_LOOPS)

# The fixed windows of the tap-list kernel (depthwise_conv2d.c, th_dw_row_dsp_window) and its line rows
# (th_dw_line_row: k x 1 / 1 x k without a clamp): k x 1 and 1 x k for k = 3, 5, 7, 5x5 and 7x7; SAME at stride 1
# (padding on every edge), VALID, SAME at stride 2 (the far edges), odd widths (7, 3, 1), clamped (RELU, RELU6:
# the tap-list windows) and unclamped (the line rows where the channels are a multiple of 4). Under
# scratch.PAIRS_MIN_OUT_W columns, so no k x 1 / 1 x k takes the pair kernel.
WINDOW_CHAIN = (Depthwise(5, 1), Depthwise(1, 3, activation="RELU"), Depthwise(3, 1, activation="RELU6"),
                Depthwise(1, 5), Depthwise(7, 1, activation="RELU"), Depthwise(1, 7), Depthwise(5, 5, activation="RELU6"),
                Depthwise(7, 7), Depthwise(3, 1, 1, "VALID"), Depthwise(1, 5, 1, "VALID", "RELU"), Depthwise(5, 5, 2),
                Depthwise(7, 7, 2, activation="RELU"), Depthwise(1, 3), Depthwise(7, 1), Depthwise(5, 1, 2),
                Depthwise(1, 3, 2))
WINDOW_KERNELS = ("line_5x1", "1x3", "3x1", "line_1x5", "7x1", "line_1x7", "5x5", "7x7", "line_3x1", "1x5", "5x5",
                  "7x7", "line_1x3", "line_7x1", "line_5x1", "line_1x3")

# The pair kernel's k x 1 / 1 x k loops (stride 1 in W, from scratch.PAIRS_MIN_OUT_W pixels), after a stride-2
# 3x3 that holds the arena's peak (so their larger rings fit under it): SAME (padding on every edge), VALID, odd
# widths (13, 11), clamped and not
PAIR_WINDOW_CHAIN = (Depthwise(3, 3, 2), Depthwise(5, 1), Depthwise(1, 3), Depthwise(3, 1, activation="RELU"), Depthwise(1, 3),
                     Depthwise(1, 3, activation="RELU6"), Depthwise(5, 1), Depthwise(3, 1), Depthwise(1, 3, 1, "VALID"),
                     Depthwise(5, 1, activation="RELU6"), Depthwise(3, 1, 1, "VALID", "RELU"))
