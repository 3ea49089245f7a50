"""Requantisation parameters computed exactly as TFLite's reference code does (double precision,
frexp, round half away from zero), so that the integers baked into the C match the interpreter."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError

INT8_MIN, INT8_MAX = -128, 127


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q_fixed = round_away(mantissa * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def round_away(x: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def f32(x: float) -> float:
    """A scale as the C++ code holds it (a float), widened to double."""
    return float(np.float32(x))


def activation_range(activation: str, scale: float, zero_point: int, op_index: int, opcode: str) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int8 (quantize done in float32)."""
    def quantize(value: float) -> int:
        return zero_point + round_away(float(np.float32(value) / np.float32(scale)))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise UnsupportedOpError(f"operator {op_index} ({opcode}) has fused activation {activation}; "
                             "supported: NONE, RELU, RELU6, RELU_N1_TO_1")


def conv_multipliers(input_scale: float, filter_scales: tuple[float, ...], output_scale: float,
                     channels: int) -> tuple[list[int], list[int]]:
    """Per-channel multipliers as PopulateConvolutionQuantizationParams computes them."""
    scales = list(filter_scales) if len(filter_scales) > 1 else [filter_scales[0]] * channels
    mults, shifts = [], []
    for fs in scales:
        m, s = quantize_multiplier(f32(input_scale) * f32(fs) / f32(output_scale))
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius with 5 integer bits: (multiplier, left shift, diff_min)."""
    integer_bits = 5
    real = min(f32(beta) * f32(input_scale) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    max_input_rescaled = 1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)
    diff_min = -int(math.floor(max_input_rescaled))
    return multiplier, left_shift, diff_min


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """reference_integer_ops::Mean folds 1/count into the multiplier with integer arithmetic."""
    multiplier, shift = quantize_multiplier(f32(input_scale) / f32(output_scale))
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = int((multiplier << extra) // count)
    return multiplier, shift - extra


def fast_requant(multipliers: list[int], shifts: list[int]) -> np.ndarray | None:
    """Per-channel {mult, shift - 1} for th_requantise_fast (tinyhil_fixedpoint.h), or None when a
    channel shifts left or not at all (then the kernels use MultiplyByQuantizedMultiplier as is).

    mult = 2m - 2^32 as an int32 (m in [2^30, 2^31)); a zero multiplier becomes {INT32_MIN, 31}."""
    pairs = []
    for m, s in zip(multipliers, shifts):
        if m == 0:
            pairs.append((-(1 << 31), 31))
        elif s >= 0:
            return None
        else:
            pairs.append((2 * m - (1 << 32), -s - 1))
    return np.array(pairs, dtype=np.int64).reshape(-1)


def leaky_relu_multipliers(input_scale: float, output_scale: float,
                           alpha: float) -> tuple[tuple[int, int], tuple[int, int], bool]:
    """CalculateOpDataLeakyRelu: the identity and alpha multipliers (the float scales' ratios taken in double
    precision, as the tflite-micro interpreter does), the alpha multiplier as |multiplier| plus its sign
    (QuantizeLeakyRelu's negative alpha)."""
    xs, ys = f32(input_scale), f32(output_scale)
    identity = quantize_multiplier(xs / ys)
    alpha_m, alpha_s = quantize_multiplier(xs * f32(alpha) / ys)
    return identity, (abs(alpha_m), alpha_s), alpha_m < 0


def _downscale_to_q15(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier: a q31 multiplier rounded to q15."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_multipliers(input_scale: float, output_scale: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """HardSwishPrepare: q15 (multiplier, exponent) of the output and the "reluish" rescalings, the scale
    ratios in double precision as the tflite-micro interpreter takes them."""
    hires = f32(input_scale) / 128.0
    out_m, out_e = quantize_multiplier(hires / f32(output_scale))
    rel_m, rel_e = quantize_multiplier(hires / (3.0 / 32768.0))
    return (_downscale_to_q15(out_m), out_e), (_downscale_to_q15(rel_m), rel_e)


def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """CalculateArithmeticOpDataLogistic for int8 (4 integer bits): (multiplier, left shift, input radius).
    The C++ rounds frexp's mantissa without QuantizeMultiplier's 2^31 correction; the int32 cast wraps."""
    integer_bits = 4
    mantissa, left_shift = math.frexp(f32(input_scale) * float(1 << (31 - integer_bits)))
    multiplier = round_away(mantissa * (1 << 31))
    multiplier = (multiplier + (1 << 31)) % (1 << 32) - (1 << 31)
    # CalculateInputRadius(4, left_shift, 31)
    radius = int(math.floor(math.ldexp(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)), -left_shift)))
    return multiplier, left_shift, radius


def mul_multiplier(input1_scale: float, input2_scale: float, output_scale: float) -> tuple[int, int]:
    """CalculateOpDataMul: input1 scale * input2 scale / output scale in double precision."""
    return quantize_multiplier(f32(input1_scale) * f32(input2_scale) / f32(output_scale))
