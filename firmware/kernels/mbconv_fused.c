/* A fused inverted-residual block: 1x1 expansion -> k x k depthwise -> 1x1 projection [+ residual ADD],
 * computed a band of rows at a time, so the expanded tensor and the depthwise output never exist whole.
 *
 * The depthwise's ring of k_h zero-point-padded rows (tinyhil_depthwise.h) is filled by the expansion
 * itself: an expanded row is computed straight into its ring slot the first time a window needs it,
 * and once only (the ring keeps rows later windows reuse). Each output row then runs the depthwise row
 * into a one-row buffer, the projection over that row, and the residual ADD over it. Every element is
 * computed by the same per-pixel / per-row arithmetic as the unfused kernels (th_matmul_* of
 * tinyhil_matmul.h, th_depthwise_row_s8, th_conv2d_1x1_s8 and th_add_s8 on one row), so the bytes are the same.
 *
 * Without an expansion (a depthwise-separable block, or expansion 1) the ring is filled from the
 * input, as the plain depthwise does.
 *
 * In place (output == input, stride 1, same shape): output row y is written after the rows up to
 * y + pad_h have been expanded, and the residual reads its row before the row is written, so no input
 * row is overwritten while still needed (the generator allows it only when pad_h < k_h).
 *
 * Scratch (offsets from the generator): the ring | the depthwise row | the projected row (residual
 * only) | the q15 blocks of two pixels (DSP path). */
#include "tinyhil_depthwise.h"

/* Input row iy expanded into ring row `row`: the image's columns at the ring's channel stride, the
 * columns left and right of it (and rows above / below the image) the depthwise input's zero point. */
static void expand_row(const th_conv_args *e, const th_row_ring *ring, const th_conv_args *d, const int8_t *input,
                       int32_t iy, int8_t *row, uint32_t *xq) {
    const int32_t stride = ring->channel_stride, in_c = e->in_c;
    const int8_t pad = (int8_t)(-d->input_offset);
    if (iy < 0 || iy >= d->in_h) {
        memset(row, pad, (size_t)ring->padded_w * stride);
        return;
    }
    const int32_t first = d->pad_w, last = th_min_i32(ring->padded_w, d->pad_w + d->in_w);
    memset(row, pad, (size_t)first * stride);
    memset(row + (size_t)last * stride, pad, (size_t)(ring->padded_w - last) * stride);
    const int8_t *src = input + (size_t)iy * d->in_w * in_c;
    int8_t *dst = row + (size_t)first * stride;
    const int32_t pixels = last - first;
    int32_t p = 0;
#if TINYHIL_USE_DSP
    const int32_t blocks = th_round_up4(in_c) / 4;
    for (; p + 2 <= pixels; p += 2) {
        th_q15_pixel(src + (size_t)p * in_c, in_c, xq);
        th_q15_pixel(src + (size_t)(p + 1) * in_c, in_c, xq + 2);
        th_matmul_2px_q15(e, xq, blocks, dst + (size_t)p * stride, dst + (size_t)(p + 1) * stride);
    }
    if (p < pixels) {
        th_q15_pixel(src + (size_t)p * in_c, in_c, xq);
        th_q15_pixel(src + (size_t)p * in_c, in_c, xq + 2);
        th_matmul_2px_q15(e, xq, blocks, dst + (size_t)p * stride, NULL);
        ++p;
    }
#else
    (void)xq;
#endif
    for (; p < pixels; ++p) {
        th_matmul_1px(e, src + (size_t)p * in_c, in_c, dst + (size_t)p * stride);
    }
}

void th_mbconv_fused_s8(const th_mbconv_args *a, const int8_t *input, const int8_t *skip, int8_t *output,
                        int8_t *scratch) {
    const th_conv_args *d = a->depthwise;
    th_conv_args project = *a->project; /* the projection of one row: th_conv2d_1x1_s8 over out_w pixels */
    project.batches = 1;
    project.in_h = project.out_h = 1;
    th_add_args add;
    const size_t out_row_bytes = (size_t)d->out_w * project.out_c;
    if (a->residual) {
        add = *a->residual;
        add.size = (int32_t)out_row_bytes;
    }
    th_row_ring ring;
    th_dw_ring_init(&ring, d, scratch);
    int8_t *dw_row = scratch + a->dw_row_offset, *projected = scratch + a->project_row_offset;
    int8_t *q15 = scratch + a->q15_offset;
    const int8_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        for (int32_t ky = 0; ky < d->k_h; ++ky) {
            const int32_t iy = oy * d->stride_h - d->pad_h + ky;
            int fresh;
            int8_t *row = th_dw_ring_slot(&ring, d, iy, ky, &fresh);
            if (fresh && a->expand) {
                expand_row(a->expand, &ring, d, input, iy, row, (uint32_t *)(void *)q15);
            } else if (fresh) {
                th_dw_ring_fill(&ring, d, input, iy, row);
            }
            rows[ky] = row;
        }
        th_depthwise_row_s8(d, rows, dw_row);
        int8_t *out_row = output + (size_t)oy * out_row_bytes;
        if (!a->residual) {
            th_conv2d_1x1_s8(&project, dw_row, out_row, q15);
            continue;
        }
        const int8_t *skip_row = skip + (size_t)oy * out_row_bytes;
        th_conv2d_1x1_s8(&project, dw_row, projected, q15);
        th_add_s8(&add, a->projection_is_input1 ? projected : skip_row, a->projection_is_input1 ? skip_row : projected,
                  out_row);
    }
}
