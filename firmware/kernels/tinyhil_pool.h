/* The window walk AVERAGE_POOL_2D and MAX_POOL_2D share: for each output pixel, its window clipped to the input
 * (padding never counts), given as the window's first input byte, its rows and columns and the pixel's output
 * bytes to the op's `words` (the DSP path: the channels it did, a multiple of 4; NULL in the portable build),
 * then to its `channels` (the reference arithmetic, from there on). Both are constants at each call: inlined. */
#ifndef TINYHIL_POOL_H
#define TINYHIL_POOL_H

#include <stddef.h>

#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

typedef int32_t (*th_pool_words)(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols,
                                  int8_t *out);
typedef void (*th_pool_channels)(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols,
                                 int32_t c_start, int8_t *out);

static inline __attribute__((always_inline)) void th_pool_windows(const th_pool_args *a, const int8_t *input,
                                                                   int8_t *output, th_pool_words words,
                                                                   th_pool_channels channels) {
    for (int32_t b = 0; b < a->batches; ++b) {
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            const int32_t y0 = oy * a->stride_h - a->pad_h;
            const int32_t ky_start = th_max_i32(0, -y0);
            const int32_t rows = th_max_i32(0, th_min_i32(a->filter_h, a->in_h - y0) - ky_start);
            for (int32_t ox = 0; ox < a->out_w; ++ox) {
                const int32_t x0 = ox * a->stride_w - a->pad_w;
                const int32_t kx_start = th_max_i32(0, -x0);
                const int32_t cols = th_max_i32(0, th_min_i32(a->filter_w, a->in_w - x0) - kx_start);
                const int8_t *window =
                    input + (((size_t)b * a->in_h + y0 + ky_start) * a->in_w + x0 + kx_start) * a->channels;
                int8_t *out = output + (((size_t)b * a->out_h + oy) * a->out_w + ox) * a->channels;
                channels(a, window, rows, cols, words ? words(a, window, rows, cols, out) : 0, out);
            }
        }
    }
}

#endif
