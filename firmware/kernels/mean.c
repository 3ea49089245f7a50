/* MEAN int8 over contiguous axes (TFLite reference_integer_ops::Mean: sum of (x - zp_in), one
 * requantisation whose multiplier already includes 1/count, + zp_out). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_mean_s8(const th_mean_args *a, const int8_t *input, int8_t *output) {
    for (int32_t o = 0; o < a->outer; ++o) {
        for (int32_t i = 0; i < a->inner; ++i) {
            int32_t acc = 0;
            for (int32_t r = 0; r < a->reduce; ++r) {
                acc += input[((size_t)o * a->reduce + r) * a->inner + i] - a->input_zero_point;
            }
            acc = th_mbqm(acc, a->multiplier, a->shift) + a->output_zero_point;
            output[(size_t)o * a->inner + i] = th_clamp_s8(acc, -128, 127);
        }
    }
}
