/* The arithmetic of int8 ADD and SUB (TFLite reference_integer_ops::Add, reference_ops::Sub: each input rescaled
 * to a common scale, summed or subtracted, rescaled to the output's). `subtract` is a constant at every call,
 * so add.c and sub.c each get their own specialised copy.
 *
 * Every multiplier of an int8 ADD / SUB is below 1 (the inputs' are at most 0.5), so the three
 * rescalings use th_requantise_fast's SMMLAR form, with the exponent-0 case (multiplier exactly
 * 0.5, i.e. the larger input scale) taken as the plain rounding doubling high multiply. A model
 * outside that (a zero multiplier, a left shift) takes the reference arithmetic. */
#ifndef TINYHIL_ADD_H
#define TINYHIL_ADD_H

#include "tinyhil_broadcast.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

/* th_mbqm(x, m, -exponent) for m in [2^30, 2^31), exponent >= 0; mult = 2m - 2^32. `half`: the exponent is
 * 0 (the multiplier is the larger input's exact 0.5), a constant at each call so the loops below come in
 * one specialised copy per case. */
static inline __attribute__((always_inline)) int32_t scale_down(int32_t x, int32_t mult, int32_t exponent,
                                                                 int half) {
    const int32_t high = th_smmlar(x, mult, x);
    if (half) {
        return high;
    }
    const int32_t t = (high + (high >> 31)) >> (exponent - 1);
    return t - (t >> 1);
}

typedef struct {
    int32_t m1, e1, m2, e2, mo, eo, off1, off2, out_off, left_shift, lo, hi;
} add_fast;

static inline __attribute__((always_inline)) int32_t add_one(const add_fast *f, int32_t x1, int32_t x2, int half1,
                                                              int half2, int subtract) {
    const int32_t s1 = scale_down((int32_t)((uint32_t)(x1 + f->off1) << f->left_shift), f->m1, f->e1, half1);
    const int32_t s2 = scale_down((int32_t)((uint32_t)(x2 + f->off2) << f->left_shift), f->m2, f->e2, half2);
    return scale_down(subtract ? s1 - s2 : s1 + s2, f->mo, f->eo, 0) + f->out_off;
}

/* Four elements per step: two word loads, SSAT to int8, one packed store (the fused activation's narrower
 * range, if any, clamps the word with SSUB8/SEL); the exponent of the output rescaling is never 0. */
static inline __attribute__((always_inline)) void add_run(const add_fast *f, int32_t size, const int8_t *in1,
                                                           const int8_t *in2, int8_t *out, int half1, int half2,
                                                           int subtract) {
    int32_t i = 0;
#if TINYHIL_USE_DSP
    const int full_range = f->lo == -128 && f->hi == 127;
    const uint32_t lo4 = th_splat_s8x4(f->lo), hi4 = th_splat_s8x4(f->hi);
    for (; i + 4 <= size; i += 4) {
        const uint32_t w1 = th_read_s8x4(in1 + i), w2 = th_read_s8x4(in2 + i);
        uint32_t word = th_pack_s8x4(th_ssat8(add_one(f, (int8_t)w1, (int8_t)w2, half1, half2, subtract)),
                                     th_ssat8(add_one(f, (int8_t)(w1 >> 8), (int8_t)(w2 >> 8), half1, half2, subtract)),
                                     th_ssat8(add_one(f, (int8_t)(w1 >> 16), (int8_t)(w2 >> 16), half1, half2, subtract)),
                                     th_ssat8(add_one(f, (int8_t)(w1 >> 24), (int8_t)(w2 >> 24), half1, half2, subtract)));
        if (!full_range) {
            word = th_clamp_s8x4(word, lo4, hi4);
        }
        th_write_s8x4(out + i, word);
    }
#endif
    for (; i < size; ++i) {
        out[i] = th_clamp_s8(add_one(f, in1[i], in2[i], half1, half2, subtract), f->lo, f->hi);
    }
}

static inline int fast_form_applies(const th_add_args *a) {
    const int32_t m[3] = {a->input1_multiplier, a->input2_multiplier, a->output_multiplier};
    const int32_t s[3] = {a->input1_shift, a->input2_shift, a->output_shift};
    for (int i = 0; i < 3; ++i) {
        if (m[i] < (1 << 30) || s[i] > 0) {
            return 0;
        }
    }
    return 1;
}

static inline add_fast add_fast_of(const th_add_args *a) {
    const add_fast f = {(int32_t)((uint32_t)a->input1_multiplier << 1), -a->input1_shift,
                        (int32_t)((uint32_t)a->input2_multiplier << 1), -a->input2_shift,
                        (int32_t)((uint32_t)a->output_multiplier << 1), -a->output_shift,
                        a->input1_offset, a->input2_offset, a->output_offset, a->left_shift, a->act_min, a->act_max};
    return f;
}

/* not inlined: one copy per kernel file (the compiler specialises it for the file's constant `subtract`) */
static __attribute__((noinline)) void add_same_shape(const th_add_args *a, int32_t size, const int8_t *input1, const int8_t *input2,
                           int8_t *output, int subtract) {
    const int32_t left_shift = a->left_shift, lo = a->act_min, hi = a->act_max;
    if (fast_form_applies(a) && a->output_shift != 0) {
        const add_fast f = add_fast_of(a);
        if (f.e1 == 0 && f.e2 == 0) {
            add_run(&f, size, input1, input2, output, 1, 1, subtract);
        } else if (f.e1 == 0) {
            add_run(&f, size, input1, input2, output, 1, 0, subtract);
        } else if (f.e2 == 0) {
            add_run(&f, size, input1, input2, output, 0, 1, subtract);
        } else {
            add_run(&f, size, input1, input2, output, 0, 0, subtract);
        }
        return;
    }
    for (int32_t i = 0; i < size; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(input1[i] + a->input1_offset) << left_shift);
        const int32_t x2 = (int32_t)((uint32_t)(input2[i] + a->input2_offset) << left_shift);
        const int32_t s1 = th_mbqm(x1, a->input1_multiplier, a->input1_shift);
        const int32_t s2 = th_mbqm(x2, a->input2_multiplier, a->input2_shift);
        const int32_t sum = th_mbqm(subtract ? s1 - s2 : s1 + s2, a->output_multiplier, a->output_shift)
                            + a->output_offset;
        output[i] = th_clamp_s8(sum, lo, hi);
    }
}

/* one row of a general broadcast: rows where both operands step 1 take add_same_shape's fast form */
static inline __attribute__((always_inline)) void add_broadcast_row(const th_add_args *a, int32_t n, const int8_t *x1,
                                                                     int32_t step1, const int8_t *x2, int32_t step2,
                                                                     int8_t *y, int subtract) {
    if (step1 == 1 && step2 == 1) {
        add_same_shape(a, n, x1, x2, y, subtract);
        return;
    }
    /* an operand that repeats along the row (step 0) is rescaled once */
    int32_t s1 = 0, s2 = 0;
    if (fast_form_applies(a) && a->output_shift != 0) {
        const add_fast f = add_fast_of(a);
        for (int32_t i = 0; i < n; ++i) {
            if (i == 0 || step1 != 0) {
                s1 = scale_down((int32_t)((uint32_t)(x1[i * step1] + f.off1) << f.left_shift), f.m1, f.e1, f.e1 == 0);
            }
            if (i == 0 || step2 != 0) {
                s2 = scale_down((int32_t)((uint32_t)(x2[i * step2] + f.off2) << f.left_shift), f.m2, f.e2, f.e2 == 0);
            }
            y[i] = th_clamp_s8(scale_down(subtract ? s1 - s2 : s1 + s2, f.mo, f.eo, 0) + f.out_off, f.lo, f.hi);
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i) {
        if (i == 0 || step1 != 0) {
            s1 = th_mbqm((int32_t)((uint32_t)(x1[i * step1] + a->input1_offset) << a->left_shift),
                         a->input1_multiplier, a->input1_shift);
        }
        if (i == 0 || step2 != 0) {
            s2 = th_mbqm((int32_t)((uint32_t)(x2[i * step2] + a->input2_offset) << a->left_shift),
                         a->input2_multiplier, a->input2_shift);
        }
        const int32_t sum = th_mbqm(subtract ? s1 - s2 : s1 + s2, a->output_multiplier, a->output_shift)
                            + a->output_offset;
        y[i] = th_clamp_s8(sum, a->act_min, a->act_max);
    }
}

static void add_row(const void *args, int32_t n, const int8_t *x1, int32_t step1, const int8_t *x2, int32_t step2,
                    int8_t *y) {
    add_broadcast_row((const th_add_args *)args, n, x1, step1, x2, step2, y, 0);
}

static void sub_row(const void *args, int32_t n, const int8_t *x1, int32_t step1, const int8_t *x2, int32_t step2,
                    int8_t *y) {
    add_broadcast_row((const th_add_args *)args, n, x1, step1, x2, step2, y, 1);
}

/* input2 of input1's shape, or (input2_inner) a row repeated over input1's leading dims: th_add_s8 / th_sub_s8 */
static inline __attribute__((always_inline)) void th_add_or_sub(const th_add_args *a, const int8_t *input1,
                                                                 const int8_t *input2, int8_t *output, int subtract) {
    const int32_t inner = a->input2_inner;
    if (inner <= 0 || inner >= a->size) {
        add_same_shape(a, a->size, input1, input2, output, subtract);
        return;
    }
    for (int32_t start = 0; start < a->size; start += inner) {
        add_same_shape(a, inner, input1 + start, input2, output + start, subtract);
    }
}

/* any broadcast (a->broadcast's walk), or a scalar operand (input2_inner 1: LayerNorm's epsilon, rescaled once,
 * one row): th_add_broadcast_s8 / th_sub_broadcast_s8, their own functions (lower._add names them) so that a
 * firmware whose ADDs have one shape does not link the walk */
static inline __attribute__((always_inline)) void th_add_or_sub_broadcast(const th_add_args *a, const int8_t *input1,
                                                                           const int8_t *input2, int8_t *output,
                                                                           int subtract) {
    if (a->broadcast != NULL) {
        th_broadcast_rows(a->broadcast, a, input1, input2, output, subtract ? sub_row : add_row);
        return;
    }
    add_broadcast_row(a, a->size, input1, 1, input2, 0, output, subtract);
}

#endif
