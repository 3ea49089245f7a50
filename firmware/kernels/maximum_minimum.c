/* MAXIMUM / MINIMUM int8 (TFLM's int8 kernels: the raw bytes compared, every operand quantised as the output).
 * input1 and output are [outer][inner]; input2 is [inner], the same for every outer index (outer = 1: two
 * tensors of one shape; inner = 1: a scalar, e.g. a clip bound). Fast path: four bytes per SSUB8/SEL.
 * Safe in place over input1. */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline __attribute__((always_inline)) void compare_rows(const th_maximum_minimum_args *a,
                                                                const int8_t *input1, const int8_t *input2,
                                                                int8_t *output, int maximum) {
    const int32_t n = a->inner;
#if TINYHIL_USE_DSP
    if (n == 1) {  /* a scalar: the whole tensor is one row of outer values against one splatted word */
        const uint32_t bound = th_splat_s8x4(input2[0]);
        int32_t i = 0;
        for (; i + 4 <= a->outer; i += 4) {
            const uint32_t v = th_read_s8x4(input1 + i);
            th_write_s8x4(output + i, maximum ? th_max_s8x4(v, bound) : th_min_s8x4(v, bound));
        }
        for (; i < a->outer; ++i) {
            output[i] = maximum ? (int8_t)th_max_i32(input1[i], input2[0]) : (int8_t)th_min_i32(input1[i], input2[0]);
        }
        return;
    }
#endif
    for (int32_t o = 0; o < a->outer; ++o) {
        const int8_t *x = input1 + (size_t)o * n;
        int8_t *y = output + (size_t)o * n;
        int32_t i = 0;
#if TINYHIL_USE_DSP
        for (; i + 4 <= n; i += 4) {
            const uint32_t v = th_read_s8x4(x + i), w = th_read_s8x4(input2 + i);
            th_write_s8x4(y + i, maximum ? th_max_s8x4(v, w) : th_min_s8x4(v, w));
        }
#endif
        for (; i < n; ++i) {
            y[i] = maximum ? (int8_t)th_max_i32(x[i], input2[i]) : (int8_t)th_min_i32(x[i], input2[i]);
        }
    }
}

void th_maximum_s8(const th_maximum_minimum_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    compare_rows(a, input1, input2, output, 1);
}

void th_minimum_s8(const th_maximum_minimum_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    compare_rows(a, input1, input2, output, 0);
}
