/* AVERAGE_POOL_2D int8 (TFLite reference_integer_ops::AveragePool): padding is excluded from
 * the count, division rounds half away from zero.
 * Fast path: four channels per word, summed in 16-bit lanes with SXTAB16 (channels c, c+2 in one word,
 * c+1, c+3 in the other), which hold the sum of up to 256 taps exactly; larger windows and the channels past
 * the last multiple of 4 take the reference loop. */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_pool.h"

static inline int8_t average(int32_t acc, int32_t count, const th_pool_args *a) {
    if (count == 0) {
        acc = 0;
    } else {
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
    }
    return th_clamp_s8(acc, a->act_min, a->act_max);
}

/* channels [c_start, channels) of one output pixel: the reference arithmetic */
static void avg_pool_channels(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols,
                              int32_t c_start, int8_t *out) {
    const int32_t row_stride = a->in_w * a->channels;
    for (int32_t c = c_start; c < a->channels; ++c) {
        int32_t acc = 0;
        for (int32_t ky = 0; ky < rows; ++ky) {
            for (int32_t kx = 0; kx < cols; ++kx) {
                acc += window[ky * row_stride + kx * a->channels + c];
            }
        }
        out[c] = average(acc, rows * cols, a);
    }
}

#if TINYHIL_USE_DSP
#define TH_AVG_POOL_LANE_TAPS 256 /* 256 x -128 = -32768: the most taps a 16-bit lane sums without wrapping */

static int32_t avg_pool_words(const th_pool_args *a, const int8_t *window, int32_t rows, int32_t cols, int8_t *out) {
    const int32_t channels = a->channels, row_stride = a->in_w * channels, count = rows * cols;
    if (count == 0 || count > TH_AVG_POOL_LANE_TAPS) {
        return 0;
    }
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        uint32_t even = 0, odd = 0; /* lanes: channels c, c + 2 | c + 1, c + 3 */
        const int8_t *row = window + c;
        for (int32_t ky = 0; ky < rows; ++ky, row += row_stride) {
            const int8_t *p = row;
            for (int32_t kx = 0; kx < cols; ++kx, p += channels) {
                const uint32_t w = th_read_s8x4(p);
                even = th_sxtab16(even, w);
                odd = th_sxtab16_ror8(odd, w);
            }
        }
        out[c] = average((int16_t)(uint16_t)even, count, a);
        out[c + 1] = average((int16_t)(uint16_t)odd, count, a);
        out[c + 2] = average((int16_t)(even >> 16), count, a);
        out[c + 3] = average((int16_t)(odd >> 16), count, a);
    }
    return c;
}
#endif

void th_avg_pool_s8(const th_pool_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_DSP
    th_pool_windows(a, input, output, avg_pool_words, avg_pool_channels);
#else
    th_pool_windows(a, input, output, NULL, avg_pool_channels);
#endif
}
