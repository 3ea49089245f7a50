/* RSQRT int8 (TFLM elementwise.cc RsqrtEvalQuantized): v = x - zp_in; v = 0 gives 127; otherwise 1 / sqrt(v) as a
 * quantised multiplier (GetInvSqrtQuantizedMultiplierExp: 5 Newton steps in gemmlowp FixedPoint<int32, 3>),
 * applied to 1 << 20, then rescaled by 1 / (sqrt(input scale) * output scale) (the host's multiplier) + zp_out.
 * TFLM refuses v < 0 (its invocation fails); here such a byte gives 127, as v = 0 does. Fast path: the host's
 * table (tinyhil_table.h). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_gemmlowp.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#if !TINYHIL_USE_TABLES
/* GetInvSqrtQuantizedMultiplierExp(input, kReverseShift = -1) for input >= 2 */
static void inv_sqrt_multiplier(int32_t input, int32_t *multiplier, int32_t *shift) {
    int32_t s = 11;
    while (input >= (1 << 29)) {
        input /= 4;
        ++s;
    }
    const int32_t left_shift_bit_pairs = (int32_t)((__builtin_clz((uint32_t)input) - 1) / 2) - 1;
    s -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    const int32_t half_input = th_rdbpot(input >> 1, 1);    /* F3 */
    const int32_t half_three = (1 << 28) + (1 << 27);        /* 1.5 in F3 */
    int32_t x = 1 << 28;                                     /* 1.0 in F3 */
    for (int i = 0; i < 5; ++i) {
        const int32_t x3 = th_sat_shift_left(th_srdhm(th_srdhm(x, x), x), 6);            /* F9 -> F3 */
        x = th_sat_shift_left(th_srdhm(half_three, x) - th_srdhm(half_input, x3), 3);      /* F6 -> F3 */
    }
    x = th_srdhm(x, 1518500250);                             /* * sqrt(2) / 2 */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *multiplier = x;
    *shift = -s;
}
#endif

void th_rsqrt_s8(const th_rsqrt_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t v = input[i] - a->input_zero_point;
        if (v <= 0) {
            output[i] = 127;
            continue;
        }
        int32_t multiplier = INT32_MAX, shift = 0;  /* v = 1: TFLM's own special case */
        if (v > 1) {
            inv_sqrt_multiplier(v, &multiplier, &shift);
        }
        const int32_t data = th_mbqm(1, multiplier, shift + 20);
        output[i] = th_clamp_s8(th_mbqm(data, a->output_multiplier, a->output_shift - 20) + a->output_zero_point,
                                -128, 127);
    }
#endif
}
