/* LOGISTIC int8 -> int8 (output zero point -128, scale 1/256), TFLite reference_integer_ops::Logistic:
 * x - zp_in beyond +-radius saturates; otherwise it is rescaled to a fixed-point value with 4 integer
 * bits, through gemmlowp's logistic (exp and 1/(1+x), tinyhil_gemmlowp.h), and rounded to 8 bits.
 * Fast path: the host's table (tinyhil_table.h). */
#include "tinyhil_gemmlowp.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#if !TINYHIL_USE_TABLES
/* gemmlowp::logistic on FixedPoint<int32_t, 4>; result with 0 integer bits */
static int32_t logistic_q4(int32_t a) {
    if (a == 0) {
        return 1 << 30; /* one half */
    }
    const int32_t magnitude = a > 0 ? a : -a;
    const int32_t positive = th_one_over_one_plus_x_for_x_in_0_1(th_exp_on_negative_values(-magnitude, 4));
    return a > 0 ? positive : INT32_MAX - positive;
}
#endif

void th_logistic_s8(const th_logistic_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    th_q4_function_s8(a->size, a->input_zero_point, a->input_range_radius, a->input_multiplier, a->input_left_shift,
                      input, output, logistic_q4, 8, -128);
#endif
}
