/* SOFTMAX int8 -> int8 (output zero point -128, scale 1/256), TFLite reference_ops::Softmax with
 * gemmlowp's fixed-point exp and reciprocal (tinyhil_gemmlowp.h). */
#include "tinyhil_gemmlowp.h"
#include "tinyhil_kernels.h"

#define TH_SCALED_DIFF_INTEGER_BITS 5
#define TH_ACCUMULATION_INTEGER_BITS 12

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
                sum_of_exps += th_rdbpot(th_exp_on_negative_values(rescaled, TH_SCALED_DIFF_INTEGER_BITS),
                                         TH_ACCUMULATION_INTEGER_BITS);
            }
        }
        const int headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int num_bits_over_unit = TH_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = th_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        for (int32_t c = 0; c < a->depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= a->diff_min) {
                const int32_t rescaled = th_srdhm((int32_t)((uint32_t)diff << a->input_left_shift), a->input_multiplier);
                const int32_t exp_in_0 = th_exp_on_negative_values(rescaled, TH_SCALED_DIFF_INTEGER_BITS);
                const int32_t unsat = th_rdbpot(th_srdhm(shifted_scale, exp_in_0), num_bits_over_unit + 31 - 8);
                out[c] = th_clamp_s8(unsat - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
