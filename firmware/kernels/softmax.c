/* SOFTMAX int8 -> int8 (output zero point -128, scale 1/256), TFLite reference_ops::Softmax with
 * gemmlowp's fixed-point exp and reciprocal, written out on plain int32 raw values. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

#define TH_SCALED_DIFF_INTEGER_BITS 5
#define TH_ACCUMULATION_INTEGER_BITS 12

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent */
static int32_t sat_shift_left(int32_t x, int exponent) {
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
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
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

/* exp(a) for a <= 0 given with 5 integer bits (26 fractional); result with 0 integer bits */
static int32_t exp_on_negative_values(int32_t a) {
    const int fractional_bits = 31 - TH_SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        sat_shift_left(a_mod_quarter_minus_one_quarter, TH_SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (TH_SCALED_DIFF_INTEGER_BITS > exponent && (remainder & (1 << (fractional_bits + exponent)))) {
            result = th_srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

static int32_t rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* 1 / (1 + a) for a in [0, 1), a with 0 integer bits; result with 0 integer bits */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + th_srdhm(half_denominator, constant_neg_32_over_17);
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = th_srdhm(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + sat_shift_left(th_srdhm(x, one_minus), 2);
    }
    return sat_shift_left(x, 1);
}

static int count_leading_zeros(uint32_t x) {
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void th_softmax_s8(const th_softmax_args *a, const int8_t *input, int8_t *output) {
    for (int32_t r = 0; r < a->rows; ++r) {
        const int8_t *in = input + (size_t)r * a->depth;
        int8_t *out = output + (size_t)r * a->depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < a->depth; ++c) {
            max_in_row = th_max_i32(max_in_row, in[c]);
        }
        int32_t sum_of_exps = 0; /* 12 integer bits */
        for (int32_t c = 0; c < a->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= a->diff_min) {
                const int32_t rescaled = th_srdhm((int32_t)((uint32_t)diff << a->input_left_shift), a->input_multiplier);
                sum_of_exps += th_rdbpot(exp_on_negative_values(rescaled), TH_ACCUMULATION_INTEGER_BITS);
            }
        }
        const int headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int num_bits_over_unit = TH_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        for (int32_t c = 0; c < a->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= a->diff_min) {
                const int32_t rescaled = th_srdhm((int32_t)((uint32_t)diff << a->input_left_shift), a->input_multiplier);
                const int32_t exp_in_0 = exp_on_negative_values(rescaled);
                const int32_t unsat = th_rdbpot(th_srdhm(shifted_scale, exp_in_0), num_bits_over_unit + 31 - 8);
                out[c] = th_clamp_s8(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
