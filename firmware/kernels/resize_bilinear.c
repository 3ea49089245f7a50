/* RESIZE_BILINEAR int8 (TFLite reference_ops::ResizeBilinearInteger). For each output row and column the host
 * gives {lower index, upper index, weight of the upper one in 1/1024} (lower_layout.resize_bilinear_sources, the
 * reference's integer arithmetic); each output is the four pixels weighted in 2^20, rounded half away from zero
 * as the reference's (sum +- 2^19) / 2^20 does. Sums stay in int64 as the reference's (a half-pixel border
 * weight of -512 puts |terms| past what 4 x int32 would hold comfortably). */
#include "tinyhil_kernels.h"

void th_resize_bilinear_s8(const th_resize_bilinear_args *a, const int8_t *input, int8_t *output) {
    const int32_t c_n = a->channels;
    const size_t in_row = (size_t)a->in_w * (size_t)c_n;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in = input + (size_t)b * (size_t)a->in_h * in_row;
        for (int32_t y = 0; y < a->out_h; ++y) {
            const int32_t *r = a->rows + 3 * y;
            const int64_t wy1 = r[2], wy0 = (1 << 10) - wy1;
            const int8_t *row0 = in + (size_t)r[0] * in_row, *row1 = in + (size_t)r[1] * in_row;
            for (int32_t x = 0; x < a->out_w; ++x) {
                const int32_t *s = a->cols + 3 * x;
                const int64_t wx1 = s[2], wx0 = (1 << 10) - wx1;
                const int8_t *p00 = row0 + (size_t)s[0] * c_n, *p01 = row0 + (size_t)s[1] * c_n;
                const int8_t *p10 = row1 + (size_t)s[0] * c_n, *p11 = row1 + (size_t)s[1] * c_n;
                for (int32_t c = 0; c < c_n; ++c) {
                    const int64_t sum =
                        p00[c] * wy0 * wx0 + p10[c] * wy1 * wx0 + p01[c] * wy0 * wx1 + p11[c] * wy1 * wx1;
                    *output++ = (int8_t)((sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20));
                }
            }
        }
    }
}
