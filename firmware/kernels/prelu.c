/* PRELU int8 (TFLite reference_ops::BroadcastPrelu4DSlow): x - zp_in >= 0 rescaled by input scale / output
 * scale, else (x - zp_in) * (alpha - zp_alpha) rescaled by input scale * alpha scale / output scale, + zp_out,
 * saturated. alpha is a row of `inner` values repeated over the `outer` rows (per channel: inner = C). One
 * path for both builds, the reference arithmetic (a face net's few PRELU layers are a small share of its time).
 * Safe in place over the input. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_prelu_s8(const th_prelu_args *a, const int8_t *input, const int8_t *alpha, int8_t *output) {
    for (int32_t o = 0; o < a->outer; ++o) {
        const int8_t *x = input + (size_t)o * a->inner;
        int8_t *y = output + (size_t)o * a->inner;
        for (int32_t i = 0; i < a->inner; ++i) {
            const int32_t v = x[i] + a->input_offset;
            const int32_t scaled = v >= 0 ? th_mbqm(v, a->identity_multiplier, a->identity_shift)
                                          : th_mbqm(v * (alpha[i] + a->alpha_offset), a->alpha_multiplier, a->alpha_shift);
            y[i] = th_clamp_s8(scaled + a->output_offset, -128, 127);
        }
    }
}
