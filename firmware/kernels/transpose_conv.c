/* TRANSPOSE_CONV int8 (TFLite reference_integer_ops::TransposeConv). The reference scatters every input pixel
 * through the filter into an int32 buffer the size of the output; this kernel gathers: output (oy, ox, oc) sums
 * (x + input_offset) * w over the filter taps whose input pixel iy = (oy + pad_h - ky) / stride_h (exactly
 * divisible, inside the input) and likewise for x. Integer sums in another order are the same sums, so the bytes
 * are the reference's, with no scratch buffer. Then bias, the per-channel requantisation, the clamp. One path
 * for both builds (the public models with a transpose conv run it on small decoders). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_transpose_conv_s8(const th_transpose_conv_args *a, const int8_t *input, int8_t *output) {
    const int32_t ic = a->in_c, oc_n = a->out_c;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in = input + (size_t)b * a->in_h * a->in_w * ic;
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            for (int32_t ox = 0; ox < a->out_w; ++ox) {
                for (int32_t oc = 0; oc < oc_n; ++oc) {
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < a->k_h; ++ky) {
                        const int32_t ty = oy + a->pad_h - ky;
                        if (ty < 0 || ty % a->stride_h != 0 || ty / a->stride_h >= a->in_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < a->k_w; ++kx) {
                            const int32_t tx = ox + a->pad_w - kx;
                            if (tx < 0 || tx % a->stride_w != 0 || tx / a->stride_w >= a->in_w) {
                                continue;
                            }
                            const int8_t *px = in + ((size_t)(ty / a->stride_h) * a->in_w + tx / a->stride_w) * ic;
                            const int8_t *wt = a->filter + (((size_t)oc * a->k_h + ky) * a->k_w + kx) * ic;
                            for (int32_t c = 0; c < ic; ++c) {
                                acc += (px[c] + a->input_offset) * wt[c];
                            }
                        }
                    }
                    if (a->bias) {
                        acc += a->bias[oc];
                    }
                    acc = th_mbqm(acc, a->multiplier[oc], a->shift[oc]) + a->output_offset;
                    *output++ = th_clamp_s8(acc, a->act_min, a->act_max);
                }
            }
        }
    }
}
