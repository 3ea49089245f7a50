/* HARD_SWISH int8, x * relu6(x + 3) / 6 (TFLite reference_ops::HardSwish): int16 fixed point, x on a
 * "hires" scale (input scale / 128) rescaled twice: once to the output scale before its final shift,
 * once to the "reluish" scale (3.0 = 32768) that maps [-3, 3] onto a [0, 1] multiplier.
 * Fast path: the host's table (tinyhil_table.h). */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#if !TINYHIL_USE_TABLES
static int32_t sat16(int64_t x) { return x < INT16_MIN ? INT16_MIN : (x > INT16_MAX ? INT16_MAX : (int32_t)x); }

/* gemmlowp SaturatingRoundingDoublingHighMul on int16 */
static int32_t srdhm16(int32_t a, int32_t b) {
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = a * b;
    return (ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15);
}

/* TFLite SaturatingDoublingHighMul on int16: rounds toward zero */
static int32_t sdhm16(int32_t a, int32_t b) {
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (a * b) / (1 << 15);
}
#endif

void th_hard_swish_s8(const th_hard_swish_args *a, const int8_t *input, int8_t *output) {
#if TINYHIL_USE_TABLES
    th_table_lookup_s8(a->table, a->size, input, output);
#else
    const int32_t rel_exp = a->reluish_exponent;
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t hires = (input[i] - a->input_zero_point) * (1 << 7);
        const int32_t preshift = srdhm16(hires, a->output_multiplier);
        int32_t reluish = hires;
        if (rel_exp > 0) {
            reluish = sat16((int64_t)reluish * ((int64_t)1 << (rel_exp - 1)));
        }
        reluish = srdhm16(reluish, a->reluish_multiplier);
        if (rel_exp > 0) {
            reluish = sat16((int64_t)reluish * 2);
        }
        if (rel_exp < 0) {
            reluish = th_rdbpot(reluish, -rel_exp);
        }
        reluish = (reluish + (1 << 15)) >> 1;
        /* the reference adds the zero point in int16: a saturated int16 value wraps there */
        const int16_t y = (int16_t)(th_rdbpot(sdhm16(reluish, preshift), -a->output_exponent) + a->output_zero_point);
        output[i] = th_clamp_s8(y, -128, 127);
    }
#endif
}
