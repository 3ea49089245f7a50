/* ADD int8, same shapes (TFLite reference_integer_ops::Add). Safe in place: each output element
 * depends only on the input elements at the same index.
 *
 * Every multiplier of an int8 ADD is below 1 (the inputs' are at most 0.5), so the three
 * rescalings use th_requantise_fast's SMMLAR form, with the exponent-0 case (multiplier exactly
 * 0.5, i.e. the larger input scale) taken as the plain rounding doubling high multiply. A model
 * outside that (a zero multiplier, a left shift) takes the reference arithmetic. */
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

/* th_mbqm(x, m, -exponent) for m in [2^30, 2^31), exponent >= 0; mult = 2m - 2^32 */
static inline int32_t scale_down(int32_t x, int32_t mult, int32_t exponent) {
    const int32_t high = th_smmlar(x, mult, x);
    if (exponent == 0) {
        return high;
    }
    const int32_t t = (high + (high >> 31)) >> (exponent - 1);
    return t - (t >> 1);
}

static int fast_form_applies(const th_add_args *a) {
    const int32_t m[3] = {a->input1_multiplier, a->input2_multiplier, a->output_multiplier};
    const int32_t s[3] = {a->input1_shift, a->input2_shift, a->output_shift};
    for (int i = 0; i < 3; ++i) {
        if (m[i] < (1 << 30) || s[i] > 0) {
            return 0;
        }
    }
    return 1;
}

void th_add_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    const int32_t left_shift = a->left_shift, lo = a->act_min, hi = a->act_max;
    if (fast_form_applies(a)) {
        const int32_t m1 = (int32_t)((uint32_t)a->input1_multiplier << 1), e1 = -a->input1_shift;
        const int32_t m2 = (int32_t)((uint32_t)a->input2_multiplier << 1), e2 = -a->input2_shift;
        const int32_t mo = (int32_t)((uint32_t)a->output_multiplier << 1), eo = -a->output_shift;
        const int32_t off1 = a->input1_offset, off2 = a->input2_offset, out_off = a->output_offset;
        for (int32_t i = 0; i < a->size; ++i) {
            const int32_t s1 = scale_down((int32_t)((uint32_t)(input1[i] + off1) << left_shift), m1, e1);
            const int32_t s2 = scale_down((int32_t)((uint32_t)(input2[i] + off2) << left_shift), m2, e2);
            output[i] = th_clamp_s8(scale_down(s1 + s2, mo, eo) + out_off, lo, hi);
        }
        return;
    }
    for (int32_t i = 0; i < a->size; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(input1[i] + a->input1_offset) << left_shift);
        const int32_t x2 = (int32_t)((uint32_t)(input2[i] + a->input2_offset) << left_shift);
        const int32_t s1 = th_mbqm(x1, a->input1_multiplier, a->input1_shift);
        const int32_t s2 = th_mbqm(x2, a->input2_multiplier, a->input2_shift);
        const int32_t sum = th_mbqm(s1 + s2, a->output_multiplier, a->output_shift) + a->output_offset;
        output[i] = th_clamp_s8(sum, lo, hi);
    }
}
