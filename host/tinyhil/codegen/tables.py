"""256-entry int8 lookup tables for the elementwise activations (LEAKY_RELU, HARD_SWISH, LOGISTIC, ELU, RSQRT, the
converter's float islands).

An int8 activation has 256 possible inputs, so the kernels' fast path (firmware/kernels/tinyhil_table.h)
looks its output up in a table the host computes here, with the same integer arithmetic as the TFLite
reference kernels (gemmlowp fixed point, written out on Python ints with int32/int16 semantics). The
tables are indexed by the input byte as uint8: table[b] is the output for the int8 value whose bits are b.
tests/codegen check every table against the tflite-micro interpreter for all 256 inputs."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def wrap32(x: int) -> int:
    """Two's complement int32 wrap (C's (int32_t)(uint32_t)x)."""
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def _trunc_div(a: int, b: int) -> int:
    """C integer division (rounds toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul, int32."""
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul, int16."""
    if a == INT16_MIN and b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _trunc_div(ab + nudge, 1 << 15)


def sdhm16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul for int16 (rounds toward zero)."""
    if a == INT16_MIN and b == INT16_MIN:
        return INT16_MAX
    return _trunc_div(a * b, 1 << 15)


def rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: halves away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (the double-rounding reference form)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(wrap32(x << left), multiplier), right)


def sat_shift_left(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent, int32."""
    return max(INT32_MIN, min(INT32_MAX, x << exponent))


def _clamp8(x: int) -> int:
    return max(-128, min(127, x))


def table(op: Callable[[int], int]) -> np.ndarray:
    """[256] int8: op(v) for the int8 value v of each byte 0..255."""
    return np.array([op(int(np.int8(np.uint8(b)))) for b in range(256)], dtype=np.int64)


def leaky_relu(v: int, input_zero_point: int, output_zero_point: int, identity: tuple[int, int],
               alpha: tuple[int, int], alpha_negative: bool) -> int:
    """reference_ops::QuantizeLeakyRelu for one int8 value; alpha's multiplier is |multiplier|."""
    x = v - input_zero_point
    if x >= 0:
        y = mbqm(x, *identity)
    else:
        y = mbqm(x, *alpha)
        y = -y if alpha_negative else y
    return _clamp8(output_zero_point + y)


def _sat16(x: int) -> int:
    return max(INT16_MIN, min(INT16_MAX, x))


def hard_swish(v: int, input_zero_point: int, output_zero_point: int, output: tuple[int, int],
               reluish: tuple[int, int]) -> int:
    """reference_ops::HardSwish (int16 fixed point) for one int8 value; multipliers are q15."""
    out_mult, out_exp = output
    rel_mult, rel_exp = reluish
    x = v - input_zero_point
    hires = x * (1 << 7)
    preshift = srdhm16(hires, out_mult)
    reluish_value = hires
    if rel_exp > 0:
        reluish_value = _sat16(reluish_value * (1 << (rel_exp - 1)))
    reluish_value = srdhm16(reluish_value, rel_mult)
    if rel_exp > 0:
        reluish_value = _sat16(reluish_value * 2)
    if rel_exp < 0:
        reluish_value = rdbpot(reluish_value, -rel_exp)
    reluish_value = (reluish_value + (1 << 15)) >> 1
    y = rdbpot(sdhm16(reluish_value, preshift), -out_exp) + output_zero_point
    return _clamp8((y + (1 << 15)) % (1 << 16) - (1 << 15))  # the reference adds the zero point in int16


# ---- gemmlowp logistic on int32 raw values (FixedPoint<int32_t, 4> in, FixedPoint<int32_t, 0> out) ----

def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term, constant_1_over_3 = 1895147668, 715827883  # exp(-1/8), 1/3
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_BARREL = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)  # exp(-2^k), k = -2..4


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """gemmlowp exp_on_negative_values: a <= 0 with `integer_bits`; result with 0 integer bits."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        sat_shift_left(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for k, multiplier in enumerate(_EXP_BARREL):
        exponent = k - 2
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _rounding_half_sum(a: int, b: int) -> int:
    total = a + b
    return _trunc_div(total + (1 if total >= 0 else -1), 2)


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    half_denominator = _rounding_half_sum(a, INT32_MAX)
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d, 2 integer bits
    for _ in range(3):
        one_minus = wrap32((1 << 29) - srdhm(half_denominator, x))
        x = wrap32(x + sat_shift_left(srdhm(x, one_minus), 2))
    return sat_shift_left(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1: (1 - a) / (1 + a), raw values with 0 integer bits."""
    half_denominator = _rounding_half_sum(a, INT32_MAX)
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = wrap32((1 << 29) - srdhm(half_denominator, x))
        x = wrap32(x + sat_shift_left(srdhm(x, one_minus), 2))
    return sat_shift_left(wrap32(x - (1 << 29)), 2)


def tanh_q4(a: int) -> int:
    """gemmlowp::tanh for FixedPoint<int32_t, 4>: raw result with 0 integer bits (exp of 2 * -|a|, read with
    5 integer bits: ExactMulByPot<1> only relabels the raw value)."""
    if a == 0:
        return 0
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs(a)), 5))
    return wrap32(-t) if a < 0 else t


def tanh(v: int, input_zero_point: int, input_range_radius: int, input_multiplier: int, input_left_shift: int) -> int:
    """reference_integer_ops::Tanh for one int8 value (the output: scale 1/128, zero point 0, as TFLM assumes)."""
    x = v - input_zero_point
    if x <= -input_range_radius:
        return -128
    if x >= input_range_radius:
        return 127
    return _clamp8(rdbpot(tanh_q4(mbqm(x, input_multiplier, input_left_shift)), 31 - 7))


def logistic_q4(a: int) -> int:
    """gemmlowp::logistic for FixedPoint<int32_t, 4>: raw result with 0 integer bits."""
    if a == 0:
        return 1 << 30
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs(a)), 4))
    return positive if a > 0 else wrap32(INT32_MAX - positive)


def logistic(v: int, input_zero_point: int, input_range_radius: int, input_multiplier: int,
             input_left_shift: int) -> int:
    """reference_integer_ops::Logistic for one int8 value (output zero point -128, scale 1/256)."""
    x = v - input_zero_point
    if x <= -input_range_radius:
        return -128
    if x >= input_range_radius:
        return 127
    q4 = mbqm(x, input_multiplier, input_left_shift)
    return _clamp8(rdbpot(logistic_q4(q4), 31 - 8) - 128)


# ---- tables of float functions: TFLM computes these in float32 with the C library's libm ----

@functools.lru_cache(maxsize=None)
def _libm_f32(name: str) -> Callable[[float], float]:
    """The C library's float32 `name` (expf, expm1f), the function TFLM's kernels call: numpy's own float32
    exp need not round its last bit as libm does."""
    import ctypes
    import ctypes.util

    function = getattr(ctypes.CDLL(ctypes.util.find_library("m")), name)
    function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda x: float(np.float32(function(float(x))))


def roundf(x: np.float32) -> np.float32:
    """roundf: halves away from zero (exact on a float32 value)."""
    return np.float32(np.sign(x) * np.floor(np.abs(np.float64(x)) + 0.5))


def float_lookup(function: Callable[[np.float32], np.float32], input_scale: float, input_zero_point: int,
                 output_scale: float, output_zero_point: int) -> np.ndarray:
    """TFLM's PopulateLookupTable (elu.cc) for one int8 op: each value dequantised as scale * (v - zp) in float32,
    `function` in float32, times the output's float32 inverse scale, roundf, + zp, clamped; indexed by byte."""
    f32 = np.float32
    inverse_scale = f32(1.0) / f32(output_scale)

    def one(v: int) -> int:
        transformed = f32(function(f32(input_scale) * f32(v - input_zero_point)))
        quantized = roundf(f32(transformed * inverse_scale)) + f32(output_zero_point)
        return _clamp8(int(quantized))

    return table(one)


def elu_f32(x: np.float32) -> np.float32:
    """The function TFLM's int8 ELU tabulates: expf(x) - 1 below zero (elu.cc; not expm1f), x above."""
    return np.float32(np.float32(_libm_f32("expf")(x)) - np.float32(1.0)) if x < 0 else x


def _expm1_f32(x: np.float32) -> np.float32:
    """TFLM's float ELU (reference_ops::Elu): expm1f below zero."""
    return np.float32(_libm_f32("expm1f")(x)) if x < 0 else x


# the float elementwise ops of a converter's float island (rewrites.float_islands), as TFLM's float kernels
# compute them
FLOAT_FUNCTIONS: dict[str, Callable[[np.float32], np.float32]] = {
    "NEG": lambda x: np.float32(-x),
    "ELU": _expm1_f32,
}


def inv_sqrt_multiplier_exp(value: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(value, kReverseShift = -1): 1 / sqrt(value) as (multiplier, left
    shift), five Newton steps in gemmlowp FixedPoint<int32, 3>."""
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left_shift_bit_pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    half_input = rdbpot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28
    for _ in range(5):
        x3 = sat_shift_left(srdhm(srdhm(x, x), x), 6)
        x = sat_shift_left(wrap32(srdhm(half_three, x) - srdhm(half_input, x3)), 3)
    x = srdhm(x, 1518500250)
    if shift < 0:
        x, shift = wrap32(x << -shift), 0
    return x, -shift


def rsqrt(v: int, input_zero_point: int, output_multiplier: int, output_shift: int, output_zero_point: int) -> int:
    """TFLM RsqrtEvalQuantized for one int8 value (kShift = 20); v - zp < 0, which TFLM refuses, gives 127 as 0 does."""
    value = v - input_zero_point
    if value <= 0:
        return 127
    multiplier, shift = inv_sqrt_multiplier_exp(value)
    data = mbqm(1, multiplier, shift + 20)
    return _clamp8(mbqm(data, output_multiplier, output_shift - 20) + output_zero_point)
