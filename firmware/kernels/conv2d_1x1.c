/* CONV_2D int8 fast path for 1x1 kernels, stride 1, no padding: a matrix product over pixels.
 * The generator folds the input offset into the bias on the host:
 *   sum((x + o) * w) + b = sum(x * w) + (b + o * sum(w)),
 * so `bias` here is that folded bias and the inner loop is a plain int8 dot product.
 * DSP path: two pixels x two output channels per step, four inputs per SMLAD pair. */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int8_t requantise(const th_conv_args *a, int32_t acc, int32_t oc) {
    acc = th_mbqm(acc, a->out_multiplier[oc], a->out_shift[oc]) + a->output_offset;
    return th_clamp_s8(acc, a->act_min, a->act_max);
}

static int32_t dot_s8(const int8_t *x, const int8_t *w, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += x[i] * w[i];
    }
    return acc;
}

#if TINYHIL_USE_DSP
/* acc[p][c] += x_p . w_c for two pixels and two channels */
static void dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                    int32_t acc[4]) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xa = th_read_s8x4(x0 + i), xb = th_read_s8x4(x1 + i);
        const uint32_t wa = th_read_s8x4(w0 + i), wb = th_read_s8x4(w1 + i);
        const uint32_t xa_e = th_sxtb16(xa), xa_o = th_sxtb16_ror8(xa);
        const uint32_t xb_e = th_sxtb16(xb), xb_o = th_sxtb16_ror8(xb);
        const uint32_t wa_e = th_sxtb16(wa), wa_o = th_sxtb16_ror8(wa);
        const uint32_t wb_e = th_sxtb16(wb), wb_o = th_sxtb16_ror8(wb);
        a00 = th_smlad(xa_e, wa_e, th_smlad(xa_o, wa_o, a00));
        a01 = th_smlad(xa_e, wb_e, th_smlad(xa_o, wb_o, a01));
        a10 = th_smlad(xb_e, wa_e, th_smlad(xb_o, wa_o, a10));
        a11 = th_smlad(xb_e, wb_e, th_smlad(xb_o, wb_o, a11));
    }
    for (; i < n; ++i) {
        a00 += x0[i] * w0[i];
        a01 += x0[i] * w1[i];
        a10 += x1[i] * w0[i];
        a11 += x1[i] * w1[i];
    }
    acc[0] += a00;
    acc[1] += a01;
    acc[2] += a10;
    acc[3] += a11;
}
#endif

void th_conv2d_1x1_s8(const th_conv_args *a, const int8_t *input, int8_t *output) {
    const int32_t pixels = a->batches * a->in_h * a->in_w;
    const int32_t in_c = a->in_c, out_c = a->out_c;
    int32_t p = 0;
#if TINYHIL_USE_DSP
    for (; p + 2 <= pixels; p += 2) {
        const int8_t *x0 = input + (size_t)p * in_c, *x1 = x0 + in_c;
        int8_t *y0 = output + (size_t)p * out_c, *y1 = y0 + out_c;
        int32_t oc = 0;
        for (; oc + 2 <= out_c; oc += 2) {
            const int8_t *w0 = a->filter + (size_t)oc * in_c;
            int32_t acc[4] = {a->bias[oc], a->bias[oc + 1], a->bias[oc], a->bias[oc + 1]};
            dot_2x2(x0, x1, w0, w0 + in_c, in_c, acc);
            y0[oc] = requantise(a, acc[0], oc);
            y0[oc + 1] = requantise(a, acc[1], oc + 1);
            y1[oc] = requantise(a, acc[2], oc);
            y1[oc + 1] = requantise(a, acc[3], oc + 1);
        }
        for (; oc < out_c; ++oc) {
            const int8_t *w = a->filter + (size_t)oc * in_c;
            y0[oc] = requantise(a, a->bias[oc] + dot_s8(x0, w, in_c), oc);
            y1[oc] = requantise(a, a->bias[oc] + dot_s8(x1, w, in_c), oc);
        }
    }
#endif
    for (; p < pixels; ++p) {
        const int8_t *x = input + (size_t)p * in_c;
        int8_t *y = output + (size_t)p * out_c;
        for (int32_t oc = 0; oc < out_c; ++oc) {
            y[oc] = requantise(a, a->bias[oc] + dot_s8(x, a->filter + (size_t)oc * in_c, in_c), oc);
        }
    }
}
