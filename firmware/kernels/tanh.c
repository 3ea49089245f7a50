/* TANH int8 -> int8 (TFLite reference_integer_ops::Tanh; the output is read as scale 1/128, zero point 0):
 * x - zp_in beyond +-radius saturates; otherwise it is rescaled to a fixed-point value with 4 integer bits,
 * through gemmlowp's tanh ((1 - e) / (1 + e), e = exp(-2|x|), tinyhil_gemmlowp.h), and rounded to 8 bits.
 * Fast path: the host's table (tinyhil_table.h). */
#include "tinyhil_gemmlowp.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#if !TINYHIL_USE_TABLES
/* gemmlowp::tanh on FixedPoint<int32_t, 4>; result with 0 integer bits. exp_on_negative_values reads the
 * doubled argument as 5 integer bits (gemmlowp's ExactMulByPot<1> relabels the raw value). */
static int32_t tanh_q4(int32_t a) {
    if (a == 0) {
        return 0;
    }
    const int32_t magnitude = a > 0 ? a : -a;
    const int32_t t = th_one_minus_x_over_one_plus_x_for_x_in_0_1(th_exp_on_negative_values(-magnitude, 5));
    return a > 0 ? t : -t;
}
#endif

void th_tanh_s8(const th_tanh_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    th_q4_function_s8(a->size, a->input_zero_point, a->input_range_radius, a->input_multiplier, a->input_left_shift,
                      input, output, tanh_q4, 7, 0);
#endif
}
