/* FULLY_CONNECTED int8 (TFLite reference_integer_ops::FullyConnected; per-channel when the
 * generator fills one multiplier per output, else the same multiplier repeated). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_fully_connected_s8(const th_fc_args *a, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_row = input + (size_t)b * a->in_features;
        for (int32_t o = 0; o < a->out_features; ++o) {
            const int8_t *w = a->filter + (size_t)o * a->in_features;
            int32_t acc = 0;
            for (int32_t i = 0; i < a->in_features; ++i) {
                acc += (in_row[i] + a->input_offset) * (w[i] + a->filter_offset);
            }
            if (a->bias) {
                acc += a->bias[o];
            }
            acc = th_mbqm(acc, a->out_multiplier[o], a->out_shift[o]) + a->output_offset;
            output[(size_t)b * a->out_features + o] = th_clamp_s8(acc, a->act_min, a->act_max);
        }
    }
}
