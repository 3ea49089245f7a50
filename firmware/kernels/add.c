/* ADD int8, same shapes (TFLite reference_integer_ops::Add). Safe in place: each output element
 * depends only on the input elements at the same index. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_add_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(input1[i] + a->input1_offset) << a->left_shift);
        const int32_t x2 = (int32_t)((uint32_t)(input2[i] + a->input2_offset) << a->left_shift);
        const int32_t s1 = th_mbqm(x1, a->input1_multiplier, a->input1_shift);
        const int32_t s2 = th_mbqm(x2, a->input2_multiplier, a->input2_shift);
        const int32_t sum = th_mbqm(s1 + s2, a->output_multiplier, a->output_shift) + a->output_offset;
        output[i] = th_clamp_s8(sum, a->act_min, a->act_max);
    }
}
