/* MAX_POOL_2D int8 (TFLite reference_integer_ops::MaxPool): padding never wins the max. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_max_pool_s8(const th_pool_args *a, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < a->batches; ++b) {
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            const int32_t y0 = oy * a->stride_h - a->pad_h;
            const int32_t ky_start = th_max_i32(0, -y0);
            const int32_t ky_end = th_min_i32(a->filter_h, a->in_h - y0);
            for (int32_t ox = 0; ox < a->out_w; ++ox) {
                const int32_t x0 = ox * a->stride_w - a->pad_w;
                const int32_t kx_start = th_max_i32(0, -x0);
                const int32_t kx_end = th_min_i32(a->filter_w, a->in_w - x0);
                for (int32_t c = 0; c < a->channels; ++c) {
                    int32_t best = -128;
                    for (int32_t ky = ky_start; ky < ky_end; ++ky) {
                        for (int32_t kx = kx_start; kx < kx_end; ++kx) {
                            best = th_max_i32(best, input[(((size_t)b * a->in_h + y0 + ky) * a->in_w + x0 + kx) * a->channels + c]);
                        }
                    }
                    output[(((size_t)b * a->out_h + oy) * a->out_w + ox) * a->channels + c] =
                        th_clamp_s8(best, a->act_min, a->act_max);
                }
            }
        }
    }
}
