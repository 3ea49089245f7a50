/* gemmlowp's fixed-point exp and 1/(1+x), written out on plain int32 raw values (the arithmetic
 * of TFLite's SOFTMAX, LOGISTIC and TANH reference kernels). A FixedPoint<int32_t, N> is its raw int32;
 * its multiplication is th_srdhm, its addition the plain int32 sum. */
#ifndef TINYHIL_GEMMLOWP_H
#define TINYHIL_GEMMLOWP_H

#include "tinyhil_fixedpoint.h"

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent */
static inline int32_t th_sat_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), a with 0 integer bits */
static inline int32_t th_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28);             /* a + 1/8 */
    const int32_t x2 = th_srdhm(x, x);
    const int32_t x3 = th_srdhm(x2, x);
    const int32_t x4 = th_srdhm(x2, x2);
    const int32_t x4_over_4 = th_rdbpot(x4, 2);
    const int32_t poly = th_rdbpot(th_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + th_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0 given with `integer_bits` integer bits (at most 5); result with 0 integer bits */
static inline int32_t th_exp_on_negative_values(int32_t a, int integer_bits) {
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result = th_exp_on_interval_between_negative_one_quarter_and_0_excl(
        th_sat_shift_left(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent && (remainder & (1 << (fractional_bits + exponent)))) {
            result = th_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

static inline int32_t th_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* 1 / (1 + a) for a in [0, 1), a with 0 integer bits; result with 0 integer bits */
static inline int32_t th_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = th_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + th_srdhm(half_denominator, constant_neg_32_over_17);
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = th_srdhm(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + th_sat_shift_left(th_srdhm(x, one_minus), 2);
    }
    return th_sat_shift_left(x, 1);
}

/* gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1: (1 - a) / (1 + a), 0 integer bits in and out */
static inline int32_t th_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = th_rounding_half_sum(a, INT32_MAX);
    int32_t x = 1515870810 + th_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 d, 2 integer bits */
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - th_srdhm(half_denominator, x);
        x = x + th_sat_shift_left(th_srdhm(x, one_minus), 2);
    }
    return th_sat_shift_left(x - (1 << 29), 2);
}

/* The reference loop of int8 LOGISTIC and TANH: x - zp_in beyond +-radius saturates; else x is rescaled to 4
 * integer bits, `f` (gemmlowp's logistic or tanh, 0 integer bits out) is applied and the result rounded to
 * `out_bits` fractional bits, plus `out_offset`. `f` is a constant at each call: inlined. */
static inline __attribute__((always_inline)) void th_q4_function_s8(int32_t size, int32_t input_zero_point,
                                                                     int32_t radius, int32_t multiplier,
                                                                     int32_t left_shift, const int8_t *input,
                                                                     int8_t *output, int32_t (*f)(int32_t),
                                                                     int out_bits, int32_t out_offset) {
    for (int32_t i = 0; i < size; ++i) {
        const int32_t x = input[i] - input_zero_point;
        if (x <= -radius) {
            output[i] = -128;
        } else if (x >= radius) {
            output[i] = 127;
        } else {
            const int32_t q0 = f(th_mbqm(x, multiplier, left_shift));
            output[i] = th_clamp_s8(th_rdbpot(q0, 31 - out_bits) + out_offset, -128, 127);
        }
    }
}

#endif
