/* QUANTIZE int8 -> int8 (TFLM Requantize) and RELU (TFLM ReluQuantized), one arithmetic: zp_out +
 * MultiplyByQuantizedMultiplier(x - zp_in) by input scale / output scale, clamped to [act_min, act_max]
 * (-128..127 for QUANTIZE, from the output's zero point for RELU). Fast path: the host's table
 * (tinyhil_table.h). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

void th_requantize_s8(const th_requantize_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t y = a->output_zero_point
                          + th_mbqm(input[i] - a->input_zero_point, a->output_multiplier, a->output_shift);
        output[i] = th_clamp_s8(y, a->act_min, a->act_max);
    }
#endif
}
