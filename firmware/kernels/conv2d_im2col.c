/* CONV_2D int8, any kernel size / stride / dilation / padding, as im2col + the matrix product of
 * tinyhil_matmul.h: the optimised twin of conv2d.c, checked by the same tests.
 *
 * The host folds the input offset into the bias (bias + o * sum(w), as for 1x1), so a padded tap
 * must contribute x * w with x = the input zero point (-input_offset): (zp + o) * w = 0, exactly
 * TFLite's padding. The gathered row is therefore filled with the zero point where the window
 * leaves the image. Scratch: K rounded up to 4 bytes for the gathered row, plus 4x that for the
 * q15 blocks of two pixels (DSP path). */
#include "tinyhil_matmul.h"

static void copy_s8(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        th_write_s8x4(dst + i, th_read_s8x4(src + i));
    }
    for (; i < n; ++i) {
        dst[i] = src[i];
    }
}

/* the K = k_h * k_w * in_c inputs under output pixel (oy, ox), in the filter's [ky][kx][ic] order */
static void gather(const th_conv_args *a, const int8_t *in_b, int32_t oy, int32_t ox, int8_t *row) {
    const int32_t in_c = a->in_c, y0 = oy * a->stride_h - a->pad_h, x0 = ox * a->stride_w - a->pad_w;
    const int8_t pad = (int8_t)(-a->input_offset);
    const int32_t run = a->k_w * in_c;
    const int32_t whole_rows = a->dil_w == 1 && x0 >= 0 && x0 + a->k_w <= a->in_w;
    for (int32_t ky = 0; ky < a->k_h; ++ky, row += run) {
        const int32_t iy = y0 + ky * a->dil_h;
        if (iy < 0 || iy >= a->in_h) {
            memset(row, pad, (size_t)run);
            continue;
        }
        const int8_t *in_row = in_b + (size_t)iy * a->in_w * in_c;
        if (whole_rows) { /* the window's row is one contiguous run of the input */
            copy_s8(row, in_row + (size_t)x0 * in_c, run);
            continue;
        }
        for (int32_t kx = 0; kx < a->k_w; ++kx) {
            const int32_t ix = x0 + kx * a->dil_w;
            if (ix < 0 || ix >= a->in_w) {
                memset(row + kx * in_c, pad, (size_t)in_c);
            } else {
                copy_s8(row + kx * in_c, in_row + (size_t)ix * in_c, in_c);
            }
        }
    }
}

void th_conv2d_im2col_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch) {
    const int32_t k = a->k_h * a->k_w * a->in_c, k_padded = th_round_up4(k);
    const int32_t out_c = a->out_c, pixels = a->out_h * a->out_w;
    int8_t *row = scratch;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * a->in_h * a->in_w * a->in_c;
        int8_t *out_b = output + (size_t)b * pixels * out_c;
        int32_t p = 0;
#if TINYHIL_USE_DSP
        uint32_t *xq = (uint32_t *)(void *)(scratch + k_padded);
        for (; p < pixels; p += 2) {
            gather(a, in_b, p / a->out_w, p % a->out_w, row);
            th_q15_pixel(row, k, xq);
            const int32_t second = p + 1 < pixels;
            if (second) {
                gather(a, in_b, (p + 1) / a->out_w, (p + 1) % a->out_w, row);
            }
            th_q15_pixel(row, k, xq + 2);
            th_matmul_2px_q15(a, xq, k_padded / 4, out_b + (size_t)p * out_c,
                              second ? out_b + (size_t)(p + 1) * out_c : NULL);
        }
#endif
        for (; p < pixels; ++p) {
            gather(a, in_b, p / a->out_w, p % a->out_w, row);
            th_matmul_1px(a, row, k, out_b + (size_t)p * out_c);
        }
    }
}
