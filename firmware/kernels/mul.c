/* MUL int8 (TFLite reference_integer_ops::Mul / BroadcastMul6DSlow): (x1 - zp1) * (x2 - zp2)
 * requantised by s1 * s2 / s_out, + zp_out, clamped to the fused activation's range. input2 is one
 * row of `inner` values, repeated for each of the `outer` rows of input1: squeeze-excitation's
 * (1,H,W,C) * (1,1,1,C) has outer = H * W, inner = C; two tensors of one shape have outer = 1. Any other
 * broadcast (LayerNorm's (1,T,1) * (1,1,C)) walks th_broadcast's rows (tinyhil_broadcast.h).
 * Safe in place over input1: each output element depends on the input1 element at its index only.
 *
 * DSP path (when the host found the requantisation a right shift, `requant` != NULL): four elements
 * per step, the offsets added in two 16-bit lanes (SXTAB16), the products by SMULBB/SMULTT, the
 * four-instruction th_requantise_fast, SSAT to int8 and one packed store (a fused activation's
 * narrower range clamps the packed word: SSUB8/SEL). */
#include "tinyhil_broadcast.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int32_t mul_one(const th_mul_args *a, int32_t x1, int32_t x2) {
    const int32_t product = (x1 + a->input1_offset) * (x2 + a->input2_offset);
    return th_mbqm(product, a->output_multiplier, a->output_shift) + a->output_offset;
}

#if TINYHIL_USE_DSP
static void mul_row_dsp(const th_mul_args *a, int32_t n, const int8_t *x, const int8_t *s, int8_t *y) {
    const int32_t mult = a->requant[0], shift_minus_1 = a->requant[1];
    const int32_t out_off = a->output_offset, lo = a->act_min, hi = a->act_max;
    const int full_range = lo == -128 && hi == 127; /* a fused activation narrows it: one SSUB8/SEL clamp per word */
    const uint32_t lo4 = th_splat_s8x4(lo), hi4 = th_splat_s8x4(hi);
    const uint32_t off1 = (uint32_t)(uint16_t)a->input1_offset * 0x00010001u;
    const uint32_t off2 = (uint32_t)(uint16_t)a->input2_offset * 0x00010001u;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xw = th_read_s8x4(x + i), sw = th_read_s8x4(s + i);
        const uint32_t x02 = th_sxtab16(off1, xw), x13 = th_sxtab16_ror8(off1, xw);
        const uint32_t s02 = th_sxtab16(off2, sw), s13 = th_sxtab16_ror8(off2, sw);
        const int32_t y0 = th_requantise_fast(th_smlabb(x02, s02, 0), mult, shift_minus_1) + out_off;
        const int32_t y1 = th_requantise_fast(th_smlabb(x13, s13, 0), mult, shift_minus_1) + out_off;
        const int32_t y2 = th_requantise_fast(th_smlatt(x02, s02, 0), mult, shift_minus_1) + out_off;
        const int32_t y3 = th_requantise_fast(th_smlatt(x13, s13, 0), mult, shift_minus_1) + out_off;
        uint32_t word = th_pack_s8x4(th_ssat8(y0), th_ssat8(y1), th_ssat8(y2), th_ssat8(y3));
        if (!full_range) {
            word = th_clamp_s8x4(word, lo4, hi4);
        }
        th_write_s8x4(y + i, word);
    }
    for (; i < n; ++i) {
        const int32_t product = (x[i] + a->input1_offset) * (s[i] + a->input2_offset);
        y[i] = th_clamp_s8(th_requantise_fast(product, mult, shift_minus_1) + out_off, lo, hi);
    }
}
#endif

/* one row of a general broadcast (th_broadcast): each operand steps 1 or 0 elements */
static void mul_broadcast_row(const void *args, int32_t n, const int8_t *x1, int32_t step1, const int8_t *x2,
                              int32_t step2, int8_t *y) {
    const th_mul_args *a = (const th_mul_args *)args;
#if TINYHIL_USE_DSP
    if (a->requant != NULL && step1 == 1 && step2 == 1) {
        mul_row_dsp(a, n, x1, x2, y);
        return;
    }
#endif
#if TINYHIL_USE_DSP
    if (a->requant != NULL) { /* the requantisation a right shift: th_requantise_fast's four instructions */
        for (int32_t i = 0; i < n; ++i) {
            const int32_t product = (x1[i * step1] + a->input1_offset) * (x2[i * step2] + a->input2_offset);
            y[i] = th_clamp_s8(th_requantise_fast(product, a->requant[0], a->requant[1]) + a->output_offset,
                               a->act_min, a->act_max);
        }
        return;
    }
#endif
    for (int32_t i = 0; i < n; ++i) {
        y[i] = th_clamp_s8(mul_one(a, x1[i * step1], x2[i * step2]), a->act_min, a->act_max);
    }
}

void th_mul_s8(const th_mul_args *a, const int8_t *input1, const int8_t *input2, int8_t *output) {
    if (a->broadcast != NULL) {
        th_broadcast_rows(a->broadcast, a, input1, input2, output, mul_broadcast_row);
        return;
    }
    for (int32_t o = 0; o < a->outer; ++o) {
        const int8_t *x = input1 + (size_t)o * a->inner;
        int8_t *y = output + (size_t)o * a->inner;
#if TINYHIL_USE_DSP
        if (a->requant != NULL) {
            mul_row_dsp(a, a->inner, x, input2, y);
            continue;
        }
#endif
        for (int32_t i = 0; i < a->inner; ++i) {
            y[i] = th_clamp_s8(mul_one(a, x[i], input2[i]), a->act_min, a->act_max);
        }
    }
}
