/* REDUCE_MAX / REDUCE_MIN int8 (TFLM's int8 kernels: the raw bytes compared; the output keeps the input's
 * quantisation). Input [outer][reduce][inner], output [outer][inner] (a global max pool: outer 1, reduce H * W,
 * inner C). Fast path: four inner values per word, one SSUB8/SEL per reduced row. */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline __attribute__((always_inline)) void reduce_rows(const th_reduce_args *a, const int8_t *input,
                                                               int8_t *output, int maximum) {
    const int32_t inner = a->inner, reduce = a->reduce;
    for (int32_t o = 0; o < a->outer; ++o) {
        const int8_t *x = input + (size_t)o * reduce * inner;
        int8_t *y = output + (size_t)o * inner;
        int32_t i = 0;
#if TINYHIL_USE_DSP
        for (; i + 4 <= inner; i += 4) {
            uint32_t best = maximum ? 0x80808080u : 0x7F7F7F7Fu;
            for (int32_t r = 0; r < reduce; ++r) {
                const uint32_t v = th_read_s8x4(x + (size_t)r * inner + i);
                best = maximum ? th_max_s8x4(best, v) : th_min_s8x4(best, v);
            }
            th_write_s8x4(y + i, best);
        }
#endif
        for (; i < inner; ++i) {
            int32_t best = maximum ? -128 : 127;
            for (int32_t r = 0; r < reduce; ++r) {
                const int32_t v = x[(size_t)r * inner + i];
                best = maximum ? th_max_i32(best, v) : th_min_i32(best, v);
            }
            y[i] = (int8_t)best;
        }
    }
}

void th_reduce_max_s8(const th_reduce_args *a, const int8_t *input, int8_t *output) {
    reduce_rows(a, input, output, 1);
}

void th_reduce_min_s8(const th_reduce_args *a, const int8_t *input, int8_t *output) {
    reduce_rows(a, input, output, 0);
}
