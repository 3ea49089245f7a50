/* CONV_2D int8 fast path for 1x1 kernels, stride 1, no padding: a matrix product over pixels.
 * The generator folds the input offset into the bias on the host:
 *   sum((x + o) * w) + b = sum(x * w) + (b + o * sum(w)),
 * so `bias` here is that folded bias (padded to an even channel count) and the filter is in the
 * pair layout of tinyhil_matmul.h. DSP path: two pixels at a time through the q15 scratch
 * (4 * in_c rounded up to 4 bytes). */
#include "tinyhil_matmul.h"

void th_conv2d_1x1_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch) {
    const int32_t pixels = a->batches * a->in_h * a->in_w;
    const int32_t in_c = a->in_c, out_c = a->out_c;
    int32_t p = 0;
#if TINYHIL_USE_DSP
    uint32_t *xq = (uint32_t *)(void *)scratch;
    th_pair_loop loop; /* the product's per-layer state, made once */
    th_matmul_2px_prepare(a, xq, th_round_up4(in_c) / 4, &loop);
    for (; p + 2 <= pixels; p += 2) {
        const int8_t *x0 = input + (size_t)p * in_c;
        th_q15_pixel_pair(x0, x0 + in_c, in_c, xq);
        int8_t *y0 = output + (size_t)p * out_c;
        th_matmul_2px_q15_prepared(a, &loop, y0, y0 + out_c);
    }
    if (p < pixels) {
        th_q15_pixel_pair(input + (size_t)p * in_c, input + (size_t)p * in_c, in_c, xq);
        th_matmul_1px_q15_prepared(a, &loop, output + (size_t)p * out_c);
        ++p;
    }
#else
    (void)scratch;
#endif
    for (; p < pixels; ++p) {
        th_matmul_1px(a, input + (size_t)p * in_c, in_c, output + (size_t)p * out_c);
    }
}
