"""The Cortex-M7 fast paths of issue 13 (FULLY_CONNECTED as an interleaved SMLAD product over groups of 1-6 rows,
depthwise with a depth multiplier as tap-pair SMLADs, k x 1 / 1 x k depthwise on a tap list)
cross-compiled and run on QEMU mps2-an500 through the HIL harness: the same bytes as the TFLM
reference interpreter with the fast paths and with their portable C99 twins, and the fast paths
take fewer instructions on the layers they serve."""

from __future__ import annotations

import numpy as np
import pytest

from . import keras_speed_nets
from .depthwise_chains import (PAIR_5X5_CHAIN, PAIR_7X7_CHAIN, PAIR_KERNEL_CHAIN, PAIR_WINDOW_CHAIN, WINDOW_CHAIN, WINDOW_KERNELS,
                               depthwise_chain)

PAIR_KERNELS = tuple(f"th_depthwise_conv2d_pairs_{window}{clamp}_{fill}{place}_s8"
                     for window in ("3x3_s1", "3x3_s2", "5x5_s1", "5x5_s2", "7x7_s1", "7x7_s2", "1x3_s1", "3x1_s1",
                                    "5x1_s1")
                     for clamp in ("", "_clamp")
                     for fill in ("by_pair", "by_group") for place in ("", "_inplace"))


def _both_builds(blob: bytes, tmp_path, runs: int = 3) -> tuple[list, dict]:
    bench = pytest.importorskip("tinyhil.hil.bench", reason="the HIL bench (tinyhil.hil.bench) is not in this checkout")
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware
    from tinyhil.codegen.reference import ReferenceInterpreter

    generated = generate(blob, tmp_path / "model")
    reference = ReferenceInterpreter(blob)
    rng = np.random.default_rng(7)
    inputs = rng.integers(-128, 128, size=(runs, *generated.input_shape), dtype=np.int8)
    inputs[0] = -128
    inputs[1] = 127
    expected = np.stack([reference.invoke(x) for x in inputs])
    profile = load_profile("qemu-m7")
    measured = {}
    for portable in (False, True):
        image = build_firmware(generated.out_dir, profile, tmp_path / f"build-{portable}", portable_kernels=portable)
        outcome = bench.run_image(image, profile, inputs, tmp_path / f"run-{portable}")
        measured[portable] = bench.summarise(image, profile, outcome, expected, "native", generated.layers)
        assert measured[portable].bit_exact, f"portable kernels: {portable}"
    return generated.layers, measured


def _latency(layers: list, measured, functions: tuple[str, ...]) -> int:
    return sum(measured.layer_latency[i]["latency"] for i, layer in enumerate(layers) if layer.kernel in functions)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("features, hidden", [
    # 70 inputs: 4 trips of 4 blocks of 4, then a whole block and a 2-input tail from the padded copy; 24:
    # one trip, then 2 blocks; 11, 8, 13: no trip, the copy only; 37 = 6 x 6 + 1, 24 = 6 x 4, 11 = 6 + 4 + 1,
    # 8 = 4 + 4, 13 = 6 + 6 + 1, 70 = 6 x 11 + 4 rows
    (70, (37, 24, 11, 8, 13)),
    # 1283 inputs: 80 trips and a 3-input tail; 10 = 6 + 4, 5 = 4 + 1, 3 = 2 + 1, 2, 9 = 4 + 4 + 1 and
    # 1283 = 6 x 213 + 4 + 1 rows
    (1283, (10, 5, 3, 2, 9)),
])
def test_fully_connected_fast_path_is_bit_exact_on_the_cortex_m7_emulator(tmp_path, features: int,
                                                                          hidden: tuple[int, ...]) -> None:
    model = keras_speed_nets.dense_autoencoder(features=features, hidden=hidden)
    layers, measured = _both_builds(keras_speed_nets.export_int8(model, seed=2), tmp_path)
    # each layer on the variant of its row groups (lower.fully_connected_kernel)
    from tinyhil.codegen.lower import fully_connected_kernel

    fc = tuple({layer.kernel for layer in layers if layer.opcode == "FULLY_CONNECTED"})
    assert set(fc) <= {fully_connected_kernel(rows, fast) for rows in (*hidden, features) for fast in (False, True)}
    assert 0 < _latency(layers, measured[False], fc) < _latency(layers, measured[True], fc)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("channels, multiplier, resolution", [(3, 4, 13), (1, 8, 13), (1, 2, 12)])
def test_depthwise_with_depth_multiplier_is_bit_exact_on_the_cortex_m7_emulator(tmp_path, channels: int,
                                                                                 multiplier: int,
                                                                                 resolution: int) -> None:
    # 3 channels (ring pixels of 3 bytes in a 4-byte stride) x multiplier 4 and a grayscale stem x 8 (the packed
    # 4-channel path), a grayscale stem x 2 (one output at a time; the host property test covers multipliers 3
    # and strides 1 too); 13 px: odd widths
    model = keras_speed_nets.mono_multiplier_stem(resolution=resolution, multiplier=multiplier, channels=channels)
    layers, measured = _both_builds(keras_speed_nets.export_int8(model, seed=3), tmp_path)
    stem = [i for i, layer in enumerate(layers) if layer.opcode == "DEPTHWISE_CONV_2D"][0]
    assert layers[stem].kernel == "th_depthwise_conv2d_multiplier_3x3_s8"
    assert measured[False].layer_latency[stem]["latency"] < measured[True].layer_latency[stem]["latency"]


@pytest.mark.qemu
@pytest.mark.slow
def test_k_by_1_depthwise_is_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    # 5x1, 1x3, 3x1 depthwise filters (the tap-list path) over 10 channels: two groups of 4 and a partial one
    model = keras_speed_nets.ds_cnn_audio(frames=15, bins=7, width=10, classes=5)
    layers, measured = _both_builds(keras_speed_nets.export_int8(model, seed=4), tmp_path)
    depthwise = ("th_depthwise_conv2d_taps_s8", "th_depthwise_conv2d_taps_inplace_s8", *PAIR_KERNELS)
    assert 0 < _latency(layers, measured[False], depthwise) < _latency(layers, measured[True], depthwise)


def _stem_conv(cin: int, cout: int, size: int, kernel: tuple[int, int], seed: int, activation: str = "RELU6",
               stride: int = 2) -> bytes:
    """One CONV_2D over a few-channel input, SAME (at stride 2, border windows on the far sides). RELU6 into
    an output scale of 0.08 leaves bounds narrower than int8 (the clamped asm loop); NONE: SSAT's bounds."""
    from .tflite_builder import TensorSpec, build_model, conv_options

    rng = np.random.default_rng(seed)
    out = (size + stride - 1) // stride
    w_scales = tuple(float(s) for s in rng.uniform(1e-3, 0.05, cout))
    tensors = [TensorSpec((1, size, size, cin), scale=(0.05,), zero_point=(-7,)),
               TensorSpec((cout, *kernel, cin), scale=w_scales, zero_point=(0,) * cout,
                          data=rng.integers(-127, 128, (cout, *kernel, cin)).astype(np.int8)),
               TensorSpec((cout,), "int32", scale=tuple(0.05 * s for s in w_scales), zero_point=(0,) * cout,
                          data=rng.integers(-3000, 3000, cout).astype(np.int32)),
               TensorSpec((1, out, out, cout), scale=(0.08,), zero_point=(4,))]
    options = conv_options((stride, stride), (1, 1), "SAME" if stride > 1 else "VALID", activation)
    return build_model("CONV_2D", tensors, [0, 1, 2], [3], options)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("cin, cout, kernel, activation, kernel_function", [
    (3, 9, (3, 3), "RELU6", "th_conv2d_im2col_s8"),  # K = 27 (a partial block of 4), an odd channel count
    (1, 8, (5, 4), "NONE", "th_conv2d_im2col_s8"),   # K = 20, no clamp (SSAT's bounds)
    (8, 16, (1, 1), "RELU6", "th_conv2d_1x1_s8"),    # the 1x1 after a stem: K = 8, stride 1
])
def test_few_input_channel_conv_is_bit_exact_on_the_cortex_m7_emulator(tmp_path, cin, cout, kernel, activation,
                                                                        kernel_function) -> None:
    # 13 px: interior windows (the word-copy gather), border ones, and 7 x 7 = 49 output pixels at stride 2 (13 x 13
    # = 169 at stride 1): an odd last pixel
    stride = 1 if kernel == (1, 1) else 2
    layers, measured = _both_builds(_stem_conv(cin, cout, 13, kernel, seed=5, activation=activation, stride=stride),
                                    tmp_path)
    assert [layer.kernel for layer in layers] == [kernel_function]
    fast = (kernel_function,)
    assert 0 < _latency(layers, measured[False], fast) < _latency(layers, measured[True], fast)


@pytest.mark.qemu
@pytest.mark.slow
def test_depthwise_pair_kernel_is_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    # 3x3 at stride 1 and 2, SAME and VALID, clamped and not, odd widths, over 10 channels (two 4-channel groups
    # of the ring fill and a pair): the four hand-scheduled loops, their odd last pixel
    # (the first three, at the arena's peak, take the tap list: planner.plan_memory)
    layers, measured = _both_builds(depthwise_chain(PAIR_KERNEL_CHAIN, 11, 13, 10, seed=10), tmp_path)
    assert sum(layer.kernel in PAIR_KERNELS for layer in layers) == 4
    assert 0 < _latency(layers, measured[False], PAIR_KERNELS) < _latency(layers, measured[True], PAIR_KERNELS)


@pytest.mark.qemu
@pytest.mark.slow
def test_fixed_window_depthwise_is_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    # k x 1, 1 x k (k = 3, 5, 7), 5x5 and 7x7 over 8 channels: SAME on every edge, VALID, stride 2, odd widths,
    # clamped and not; each window its own unrolled loop
    layers, measured = _both_builds(depthwise_chain(WINDOW_CHAIN, 15, 7, 8, seed=28), tmp_path)
    windows = tuple(f"th_depthwise_conv2d_{window}{place}_s8" for window in set(WINDOW_KERNELS)
                    for place in ("", "_inplace"))
    assert all(layer.kernel in windows for layer in layers)
    assert 0 < _latency(layers, measured[False], windows) < _latency(layers, measured[True], windows)


@pytest.mark.qemu
@pytest.mark.slow
def test_pair_kernel_window_loops_are_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    # 1x3, 3x1 and 5x1 at stride 1 over 10 channels (two 4-channel groups of the ring fill and a pair): SAME on
    # every edge, VALID, odd widths, clamped and not, each loop's odd last pixel
    layers, measured = _both_builds(depthwise_chain(PAIR_WINDOW_CHAIN, 24, 26, 10, seed=40), tmp_path)
    assert sum(layer.kernel in PAIR_KERNELS for layer in layers) == len(PAIR_WINDOW_CHAIN) - 1
    assert 0 < _latency(layers, measured[False], PAIR_KERNELS) < _latency(layers, measured[True], PAIR_KERNELS)


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("chain", [PAIR_5X5_CHAIN, PAIR_7X7_CHAIN], ids=["5x5", "7x7"])
def test_depthwise_5x5_and_7x7_pair_loops_are_bit_exact_on_the_cortex_m7_emulator(tmp_path, chain) -> None:
    # 5x5 / 7x7 at stride 1 and 2 over 14 channels (three 4-channel groups of the ring fill and a pair): SAME,
    # VALID, odd widths, clamped and not, each loop's odd last pixel; faster than their portable twins
    layers, measured = _both_builds(depthwise_chain(chain, 30, 29, 14, seed=60), tmp_path)
    assert sum(layer.kernel in PAIR_KERNELS for layer in layers) == len(chain) - 1
    assert 0 < _latency(layers, measured[False], PAIR_KERNELS) < _latency(layers, measured[True], PAIR_KERNELS)
