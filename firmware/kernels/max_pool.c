/* MAX_POOL_2D int8 (TFLite reference_integer_ops::MaxPool): padding never wins the max.
 * Fast path: four channels per word, one SSUB8/SEL maximum per window tap (th_max_s8x4), the window's
 * bounds clipped once per output pixel; channels past the last multiple of 4 take the reference loop. */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_pool.h"

/* channels [c_start, channels) of one output pixel: the reference arithmetic */
static void max_pool_channels(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols,
                              int32_t c_start, int8_t *out) {
    const int32_t row_stride = a->in_w * a->channels;
    for (int32_t c = c_start; c < a->channels; ++c) {
        int32_t best = -128;
        for (int32_t ky = 0; ky < rows; ++ky) {
            for (int32_t kx = 0; kx < cols; ++kx) {
                best = th_max_i32(best, window[ky * row_stride + kx * a->channels + c]);
            }
        }
        out[c] = th_clamp_s8(best, a->act_min, a->act_max);
    }
}

#if TINYHIL_USE_DSP
static int32_t max_pool_words(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols, int8_t *out) {
    const int32_t channels = a->channels, row_stride = a->in_w * channels;
    const int full_range = a->act_min == -128 && a->act_max == 127;
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        uint32_t best = 0x80808080u;
        const int8_t *row = window + c;
        for (int32_t ky = 0; ky < rows; ++ky, row += row_stride) {
            const int8_t *p = row;
            for (int32_t kx = 0; kx < cols; ++kx, p += channels) {
                best = th_max_s8x4(best, th_read_s8x4(p));
            }
        }
        th_write_s8x4(out + c, full_range ? best : th_clamp_s8x4(best, lo4, hi4));
    }
    return c;
}
#endif

void th_max_pool_s8(const th_pool_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_DSP
    th_pool_windows(a, input, output, max_pool_words, max_pool_channels);
#else
    th_pool_windows(a, input, output, NULL, max_pool_channels);
#endif
}
