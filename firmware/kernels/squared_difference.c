/* SQUARED_DIFFERENCE int8 (TFLM squared_difference.cc, the int8 SquaredDifference with left_shift 7): each input
 * + its offset, << 7, rescaled by its scale / twice the larger input scale, the two subtracted, the difference
 * squared in int32, rescaled by (twice the larger scale)^2 / (2^14 * output scale), + zp_out, clamped to int8.
 * Two tensors of one shape, or any broadcast (LayerNorm's (1,T,C) - (1,T,1) mean: tinyhil_broadcast.h). Safe in
 * place over an operand of the output's shape. */
#include "tinyhil_broadcast.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int32_t scaled1(const th_squared_difference_args *a, int32_t x) {
    return th_mbqm((int32_t)((uint32_t)(x + a->input1_offset) << a->left_shift), a->input1_multiplier,
                   a->input1_shift);
}

static inline int32_t scaled2(const th_squared_difference_args *a, int32_t x) {
    return th_mbqm((int32_t)((uint32_t)(x + a->input2_offset) << a->left_shift), a->input2_multiplier,
                   a->input2_shift);
}

static inline int8_t squared(const th_squared_difference_args *a, int32_t diff) {
    return th_clamp_s8(th_mbqm(diff * diff, a->output_multiplier, a->output_shift) + a->output_offset, -128, 127);
}

/* one row; an operand that repeats along it (step 0: LayerNorm's mean) is rescaled once per row */
static void squared_difference_row(const void *args, int32_t n, const int8_t *x1, int32_t step1, const int8_t *x2,
                                   int32_t step2, int8_t *y) {
    const th_squared_difference_args *a = (const th_squared_difference_args *)args;
    if (step2 == 0) {
        const int32_t s2 = scaled2(a, x2[0]);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = squared(a, scaled1(a, x1[i * step1]) - s2);
        }
    } else if (step1 == 0) {
        const int32_t s1 = scaled1(a, x1[0]);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = squared(a, s1 - scaled2(a, x2[i * step2]));
        }
    } else {
        for (int32_t i = 0; i < n; ++i) {
            y[i] = squared(a, scaled1(a, x1[i * step1]) - scaled2(a, x2[i * step2]));
        }
    }
}

void th_squared_difference_s8(const th_squared_difference_args *a, const int8_t *input1, const int8_t *input2,
                              int8_t *output) {
    if (a->broadcast != NULL) {
        th_broadcast_rows(a->broadcast, a, input1, input2, output, squared_difference_row);
        return;
    }
    squared_difference_row(a, a->size, input1, 1, input2, 1, output);
}
