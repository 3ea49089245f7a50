/* DEPTHWISE_CONV_2D int8, per-channel (TFLite reference_integer_ops::DepthwiseConvPerChannel).
 * One output row at a time from an array of input-row pointers (NULL = a padding row), so the
 * same row code serves the normal kernel and the in-place one. The valid filter window is found
 * once per output pixel (padding contributes nothing); with depth multiplier 1 four channels run
 * side by side (DSP path: SXTAB16 + SMLABB/SMLATT). */
#include <string.h>

#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int8_t requantise(const th_conv_args *a, int32_t acc, int32_t oc) {
    if (a->bias) {
        acc += a->bias[oc];
    }
    acc = th_mbqm(acc, a->out_multiplier[oc], a->out_shift[oc]) + a->output_offset;
    return th_clamp_s8(acc, a->act_min, a->act_max);
}

/* rows[ky]: input row for filter row ky, or NULL where it falls into the padding */
static void depthwise_row(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t in_c = a->in_c, out_c = a->out_c, mult = a->depth_multiplier;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        const int32_t x0 = ox * a->stride_w - a->pad_w;
        int32_t kx0 = 0, kx1 = a->k_w;
        while (kx0 < kx1 && x0 + kx0 * a->dil_w < 0) {
            ++kx0;
        }
        while (kx1 > kx0 && x0 + (kx1 - 1) * a->dil_w >= a->in_w) {
            --kx1;
        }
        int8_t *out_px = out_row + (size_t)ox * out_c;
        int32_t c = 0;
        if (mult == 1) {
            for (; c + 4 <= in_c; c += 4) {
                int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                for (int32_t ky = 0; ky < a->k_h; ++ky) {
                    if (rows[ky] == NULL) {
                        continue;
                    }
                    const int8_t *w_row = a->filter + (size_t)ky * a->k_w * out_c + c;
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int8_t *x = rows[ky] + (size_t)(x0 + kx * a->dil_w) * in_c + c;
                        const int8_t *w = w_row + (size_t)kx * out_c;
#if TINYHIL_USE_DSP
                        const uint32_t offsets = ((uint32_t)(uint16_t)a->input_offset << 16) | (uint16_t)a->input_offset;
                        const uint32_t xv = th_read_s8x4(x), wv = th_read_s8x4(w);
                        const uint32_t x_e = th_sxtab16(offsets, xv), x_o = th_sxtab16_ror8(offsets, xv);
                        const uint32_t w_e = th_sxtb16(wv), w_o = th_sxtb16_ror8(wv);
                        acc0 = th_smlabb(x_e, w_e, acc0);
                        acc2 = th_smlatt(x_e, w_e, acc2);
                        acc1 = th_smlabb(x_o, w_o, acc1);
                        acc3 = th_smlatt(x_o, w_o, acc3);
#else
                        acc0 += (x[0] + a->input_offset) * w[0];
                        acc1 += (x[1] + a->input_offset) * w[1];
                        acc2 += (x[2] + a->input_offset) * w[2];
                        acc3 += (x[3] + a->input_offset) * w[3];
#endif
                    }
                }
                out_px[c] = requantise(a, acc0, c);
                out_px[c + 1] = requantise(a, acc1, c + 1);
                out_px[c + 2] = requantise(a, acc2, c + 2);
                out_px[c + 3] = requantise(a, acc3, c + 3);
            }
        }
        for (; c < in_c; ++c) {
            for (int32_t m = 0; m < mult; ++m) {
                const int32_t oc = c * mult + m;
                int32_t acc = 0;
                for (int32_t ky = 0; ky < a->k_h; ++ky) {
                    if (rows[ky] == NULL) {
                        continue;
                    }
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int32_t x = rows[ky][(size_t)(x0 + kx * a->dil_w) * in_c + c];
                        acc += (x + a->input_offset) * a->filter[((size_t)ky * a->k_w + kx) * out_c + oc];
                    }
                }
                out_px[oc] = requantise(a, acc, oc);
            }
        }
    }
}

void th_depthwise_conv2d_s8(const th_conv_args *a, const int8_t *input, int8_t *output) {
    const int8_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    const size_t in_row_bytes = (size_t)a->in_w * a->in_c, out_row_bytes = (size_t)a->out_w * a->out_c;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * a->in_h * in_row_bytes;
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                const int32_t iy = oy * a->stride_h - a->pad_h + ky * a->dil_h;
                rows[ky] = (iy >= 0 && iy < a->in_h) ? in_b + (size_t)iy * in_row_bytes : NULL;
            }
            depthwise_row(a, rows, output + ((size_t)b * a->out_h + oy) * out_row_bytes);
        }
    }
}

/* In place: stride 1, dilation 1, output shape == input shape. Output row y overwrites input row y,
 * so the pad_h input rows above it are kept in a ring in `scratch` ((pad_h + 1) rows: the ring and
 * one row being computed). */
void th_depthwise_conv2d_inplace_s8(const th_conv_args *a, int8_t *buffer, int8_t *scratch) {
    const int8_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    const size_t row_bytes = (size_t)a->in_w * a->in_c;
    const int32_t above = a->pad_h;
    int8_t *out_row = scratch + (size_t)above * row_bytes;
    for (int32_t b = 0; b < a->batches; ++b) {
        int8_t *buf_b = buffer + (size_t)b * a->in_h * row_bytes;
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                const int32_t iy = oy - above + ky;
                if (iy < 0 || iy >= a->in_h) {
                    rows[ky] = NULL;
                } else if (iy < oy) {
                    rows[ky] = scratch + (size_t)(iy % above) * row_bytes; /* already overwritten: saved copy */
                } else {
                    rows[ky] = buf_b + (size_t)iy * row_bytes;
                }
            }
            depthwise_row(a, rows, out_row);
            if (above > 0) {
                memcpy(scratch + (size_t)(oy % above) * row_bytes, buf_b + (size_t)oy * row_bytes, row_bytes);
            }
            memcpy(buf_b + (size_t)oy * row_bytes, out_row, row_bytes);
        }
    }
}
