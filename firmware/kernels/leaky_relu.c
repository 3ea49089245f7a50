/* LEAKY_RELU int8 (TFLite reference_ops::QuantizeLeakyRelu): x - zp_in >= 0 is rescaled by
 * input scale / output scale, below zero by alpha * input scale / output scale (a negative alpha
 * scales by |alpha| and flips the sign), + zp_out, clamped to int8. Fast path: the host's table
 * (tinyhil_table.h). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

void th_leaky_relu_s8(const th_leaky_relu_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t x = input[i] - a->input_zero_point;
        int32_t y;
        if (x >= 0) {
            y = th_mbqm(x, a->identity_multiplier, a->identity_shift);
        } else {
            y = th_mbqm(x, a->alpha_multiplier, a->alpha_shift);
            y = a->alpha_negative ? -y : y;
        }
        output[i] = th_clamp_s8(y + a->output_zero_point, -128, 127);
    }
#endif
}
