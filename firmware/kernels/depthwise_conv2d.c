/* DEPTHWISE_CONV_2D int8, per-channel: the ring of zero-point-padded input rows and the row
 * arithmetic are in tinyhil_depthwise.h. The ring also makes the kernel safe in place (stride 1
 * in H): output row y overwrites input row y only after every row it still needs is in the ring. */
#include "tinyhil_depthwise.h"

/* out_b may be in_b (in place, stride 1 in H): see the file comment */
static void depthwise(const th_conv_args *a, const int8_t *in_b, int8_t *out_b, int8_t *scratch) {
    const int8_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    const size_t out_row_bytes = (size_t)a->out_w * a->out_c;
    th_row_ring ring;
    th_dw_ring_init(&ring, a, scratch);
    for (int32_t oy = 0; oy < a->out_h; ++oy) {
        for (int32_t ky = 0; ky < a->k_h; ++ky) {
            rows[ky] = th_dw_ring_row(&ring, a, in_b, oy * a->stride_h - a->pad_h + ky * a->dil_h, ky);
        }
        th_dw_row(a, rows, out_b + (size_t)oy * out_row_bytes);
    }
}

void th_depthwise_conv2d_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch) {
    for (int32_t b = 0; b < a->batches; ++b) {
        depthwise(a, input + (size_t)b * a->in_h * a->in_w * a->in_c, output + (size_t)b * a->out_h * a->out_w * a->out_c,
                  scratch);
    }
}

void th_depthwise_conv2d_inplace_s8(const th_conv_args *a, int8_t *buffer, int8_t *scratch) {
    const size_t bytes = (size_t)a->in_h * a->in_w * a->in_c;
    for (int32_t b = 0; b < a->batches; ++b) {
        depthwise(a, buffer + (size_t)b * bytes, buffer + (size_t)b * bytes, scratch);
    }
}
