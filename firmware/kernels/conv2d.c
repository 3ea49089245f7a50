/* CONV_2D int8, per-channel requantisation (TFLite reference_integer_ops::ConvPerChannel); a folded
 * activation's table (fuse.fuse_activations) applied to each output pixel. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

void th_conv2d_s8(const th_conv_args *a, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * a->in_h * a->in_w * a->in_c;
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            const int32_t in_y0 = oy * a->stride_h - a->pad_h;
            for (int32_t ox = 0; ox < a->out_w; ++ox) {
                const int32_t in_x0 = ox * a->stride_w - a->pad_w;
                int8_t *out_px = output + (((size_t)b * a->out_h + oy) * a->out_w + ox) * a->out_c;
                for (int32_t oc = 0; oc < a->out_c; ++oc) {
                    const int8_t *filt_oc = a->filter + (size_t)oc * a->k_h * a->k_w * a->in_c;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < a->k_h; ++ky) {
                        const int32_t iy = in_y0 + ky * a->dil_h;
                        if (iy < 0 || iy >= a->in_h) {
                            continue; /* padding contributes (zp - zp) * w = 0 */
                        }
                        for (int32_t kx = 0; kx < a->k_w; ++kx) {
                            const int32_t ix = in_x0 + kx * a->dil_w;
                            if (ix < 0 || ix >= a->in_w) {
                                continue;
                            }
                            const int8_t *in_px = in_b + ((size_t)iy * a->in_w + ix) * a->in_c;
                            const int8_t *w = filt_oc + ((size_t)ky * a->k_w + kx) * a->in_c;
                            for (int32_t ic = 0; ic < a->in_c; ++ic) {
                                acc += (in_px[ic] + a->input_offset) * w[ic];
                            }
                        }
                    }
                    if (a->bias) {
                        acc += a->bias[oc];
                    }
                    acc = th_mbqm(acc, a->out_multiplier[oc], a->out_shift[oc]) + a->output_offset;
                    out_px[oc] = th_clamp_s8(acc, a->act_min, a->act_max);
                }
                if (a->table) {
                    th_table_lookup_s8(a->table, a->out_c, out_px, out_px);
                }
            }
        }
    }
}
