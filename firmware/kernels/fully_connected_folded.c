/* FULLY_CONNECTED int8 fast path: the optimised twin of fully_connected.c, checked by the same tests.
 *
 * The host (lower.py) folds the input offset into the bias, as for the 1x1 convs:
 *   sum((x + o) * w) + b = sum(x * w) + (b + o * sum(w)),
 * so the inner loop is a plain int8 dot product, and interleaves the weights in groups of 4 output
 * rows (the last group has the 1-3 rows left over): per group and per block of 4 inputs, 4 bytes of
 * each row of the group, so one pass over the input feeds 4 rows. The input dimension is zero-padded
 * to a multiple of 4 (th_fc_weight gives the index of any weight).
 *
 * DSP path, per block of 4 inputs: the input word widened once (SXTB16, SXTB16-ROR8), each row's
 * word widened and two SMLADs: 21 instructions per 16 MACs (4 blocks a loop trip). The input stays int8:
 * no scratch. */
#include <string.h>

/* -O2, not the kernels' -O3: the hot loop is asm already, and -O3's unrolled row loops would make this
 * file 4x larger (flash) for nothing */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int32_t round_up4(int32_t n) { return (n + 3) & ~3; }

/* index of the weight of output row o and input k in the interleaved layout */
static inline size_t th_fc_weight(int32_t out_features, int32_t k_padded, int32_t o, int32_t k) {
    const int32_t group = o >> 2, rows = th_min_i32(4, out_features - (group << 2));
    return (size_t)group * 4 * k_padded + (size_t)(k >> 2) * rows * 4 + (size_t)(o & 3) * 4 + (size_t)(k & 3);
}

/* out of line: one copy of the two requantisations, not one per row of a group */
static __attribute__((noinline)) int8_t fc_output(const th_fc_args *a, int32_t acc, int32_t o) {
    if (a->requant) {
        acc = th_requantise_fast(acc, a->requant[2 * o], a->requant[2 * o + 1]);
    } else {
        acc = th_mbqm(acc, a->out_multiplier[o], a->out_shift[o]);
    }
    return th_clamp_s8(acc + a->output_offset, a->act_min, a->act_max);
}

#if TINYHIL_USE_DSP
/* one block of 4 inputs (xe, xo: the widened input word) into acc for the row word at w */
#define TH_FC_ROW(acc, word)                                         \
    do {                                                             \
        const uint32_t w_ = (word);                                  \
        acc = th_smlad(xe, th_sxtb16(w_), th_smlad(xo, th_sxtb16_ror8(w_), acc)); \
    } while (0)

#define TH_FC_4ROWS_ASM_BLOCK \
    "ldr    %[t], [%[x]], #4\n\t"          \
    "sxtb16 %[xe], %[t]\n\t"               \
    "sxtb16 %[xo], %[t], ror #8\n\t"       \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"  \
    "sxtb16 %[t], %[w0]\n\t"               \
    "smlad  %[a0], %[xe], %[t], %[a0]\n\t" \
    "sxtb16 %[t], %[w0], ror #8\n\t"       \
    "smlad  %[a0], %[xo], %[t], %[a0]\n\t" \
    "sxtb16 %[t], %[w1]\n\t"               \
    "smlad  %[a1], %[xe], %[t], %[a1]\n\t" \
    "sxtb16 %[t], %[w1], ror #8\n\t"       \
    "smlad  %[a1], %[xo], %[t], %[a1]\n\t" \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"  \
    "sxtb16 %[t], %[w0]\n\t"               \
    "smlad  %[a2], %[xe], %[t], %[a2]\n\t" \
    "sxtb16 %[t], %[w0], ror #8\n\t"       \
    "smlad  %[a2], %[xo], %[t], %[a2]\n\t" \
    "sxtb16 %[t], %[w1]\n\t"               \
    "smlad  %[a3], %[xe], %[t], %[a3]\n\t" \
    "sxtb16 %[t], %[w1], ror #8\n\t"       \
    "smlad  %[a3], %[xo], %[t], %[a3]\n\t"

/* acc[0..3] += the 4 rows of one group over an even number (>= 2) of whole blocks of 4 inputs (asm on the
 * M7); returns w past them */
static inline const uint32_t *th_fc_dot_4rows(const int8_t *x, const uint32_t *w, int32_t blocks, int32_t *a0,
                                              int32_t *a1, int32_t *a2, int32_t *a3) {
#if TINYHIL_DSP_ASM
    int32_t acc0 = *a0, acc1 = *a1, acc2 = *a2, acc3 = *a3;
    uint32_t t, xe, xo, w0, w1;
    if (blocks >= 4) { /* 4 blocks a trip: one compare and branch per 64 MACs */
        const int8_t *x_end = x + 16 * (blocks >> 2);
        __asm__ volatile(
            "1:\n\t" TH_FC_4ROWS_ASM_BLOCK TH_FC_4ROWS_ASM_BLOCK TH_FC_4ROWS_ASM_BLOCK TH_FC_4ROWS_ASM_BLOCK
            "cmp    %[x], %[end]\n\t"
            "bne    1b\n\t"
            : [a0] "+r"(acc0), [a1] "+r"(acc1), [a2] "+r"(acc2), [a3] "+r"(acc3), [x] "+r"(x),
              [w] "+r"(w), [t] "=&r"(t), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [end] "r"(x_end)
            : "cc", "memory");
    }
    if (blocks & 2) { /* the last two */
        __asm__ volatile(
            TH_FC_4ROWS_ASM_BLOCK TH_FC_4ROWS_ASM_BLOCK
            : [a0] "+r"(acc0), [a1] "+r"(acc1), [a2] "+r"(acc2), [a3] "+r"(acc3), [x] "+r"(x),
              [w] "+r"(w), [t] "=&r"(t), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0] "=&r"(w0), [w1] "=&r"(w1)
            :
            : "memory");
    }
    *a0 = acc0, *a1 = acc1, *a2 = acc2, *a3 = acc3;
    return w;
#else
    int32_t acc0 = *a0, acc1 = *a1, acc2 = *a2, acc3 = *a3;
    for (int32_t b = 0; b < blocks; ++b, x += 4, w += 4) {
        const uint32_t v = th_read_s8x4(x);
        const uint32_t xe = th_sxtb16(v), xo = th_sxtb16_ror8(v);
        TH_FC_ROW(acc0, w[0]);
        TH_FC_ROW(acc1, w[1]);
        TH_FC_ROW(acc2, w[2]);
        TH_FC_ROW(acc3, w[3]);
    }
    *a0 = acc0, *a1 = acc1, *a2 = acc2, *a3 = acc3;
    return w;
#endif
}

/* The blocks [b, blocks) of a group of `rows` rows (a compile-time constant where it is called, so the
 * accumulators stay in registers): block b < whole read from x, the last partial one is tail_v. */
static inline __attribute__((always_inline)) const uint32_t *fc_rows_blocks(const int8_t *x, const uint32_t *w,
                                                                            int32_t b, int32_t whole, int32_t blocks,
                                                                            uint32_t tail_v, int32_t rows,
                                                                            int32_t acc[4]) {
    for (; b < blocks; ++b, w += rows) {
        const uint32_t v = b < whole ? th_read_s8x4(x + 4 * b) : tail_v;
        const uint32_t xe = th_sxtb16(v), xo = th_sxtb16_ror8(v);
        TH_FC_ROW(acc[0], w[0]);
        if (rows > 1) {
            TH_FC_ROW(acc[1], w[1]);
        }
        if (rows > 2) {
            TH_FC_ROW(acc[2], w[2]);
        }
        if (rows > 3) {
            TH_FC_ROW(acc[3], w[3]);
        }
    }
    return w;
}

/* the last group, of 1-3 rows: all its blocks, then each output requantised alone */
static inline __attribute__((always_inline)) void fc_last_rows(const th_fc_args *a, const int8_t *x, const uint32_t *w,
                                                               int32_t whole, int32_t blocks, uint32_t tail_v,
                                                               int32_t o, int32_t rows, int8_t *y) {
    int32_t acc[4] = {a->bias[o], rows > 1 ? a->bias[o + 1] : 0, rows > 2 ? a->bias[o + 2] : 0, 0};
    fc_rows_blocks(x, w, 0, whole, blocks, tail_v, rows, acc);
    y[o] = fc_output(a, acc[0], o);
    if (rows > 1) {
        y[o + 1] = fc_output(a, acc[1], o + 1);
    }
    if (rows > 2) {
        y[o + 2] = fc_output(a, acc[2], o + 2);
    }
}

/* one batch row: input x (n values), output y; per group of 4 rows, the even whole blocks through
 * th_fc_dot_4rows, the rest (an odd block, the zero-padded last block) one block at a time; the last
 * group of 1-3 rows by its own specialised loop */
static void fc_row_dsp(const th_fc_args *a, const int8_t *x, int8_t *y) {
    const int32_t n = a->in_features, out_features = a->out_features;
    const int32_t whole = n >> 2, blocks = round_up4(n) >> 2, pairs = whole & ~1;
    uint32_t tail_v = 0; /* the last partial block of the input, zero-padded like the weights */
    for (int32_t i = 4 * whole; i < n; ++i) {
        tail_v |= (uint32_t)(uint8_t)x[i] << (8 * (i - 4 * whole));
    }
    const uint32_t *w = (const uint32_t *)(const void *)a->filter; /* 4-byte aligned by the generator */
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    const int32_t clamp = a->act_min > -128 || a->act_max < 127; /* else SSAT's bounds are the activation's */
    const int32_t *bias = a->bias, *requant = a->requant, offset = a->output_offset;
    int32_t o = 0;
    for (; o + 4 <= out_features; o += 4) {
        int32_t acc[4] = {bias[o], bias[o + 1], bias[o + 2], bias[o + 3]};
        if (pairs) {
            w = th_fc_dot_4rows(x, w, pairs, &acc[0], &acc[1], &acc[2], &acc[3]);
        }
        w = fc_rows_blocks(x, w, pairs, whole, blocks, tail_v, 4, acc);
        if (requant) { /* the common case: 4 outputs requantised (SMMLAR) and stored as one word */
            const int32_t *q = requant + 2 * o;
            const uint32_t packed = th_pack_s8x4(th_ssat8(th_requantise_fast(acc[0], q[0], q[1]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[1], q[2], q[3]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[2], q[4], q[5]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[3], q[6], q[7]) + offset));
            th_write_s8x4(y + o, clamp ? th_clamp_s8x4(packed, lo4, hi4) : packed);
            continue;
        }
        y[o] = fc_output(a, acc[0], o); /* constant indices: the accumulators stay in registers */
        y[o + 1] = fc_output(a, acc[1], o + 1);
        y[o + 2] = fc_output(a, acc[2], o + 2);
        y[o + 3] = fc_output(a, acc[3], o + 3);
    }
    switch (out_features - o) {
    case 1:
        fc_last_rows(a, x, w, whole, blocks, tail_v, o, 1, y);
        break;
    case 2:
        fc_last_rows(a, x, w, whole, blocks, tail_v, o, 2, y);
        break;
    case 3:
        fc_last_rows(a, x, w, whole, blocks, tail_v, o, 3, y);
        break;
    default:
        break;
    }
}

#else
/* Portable path: the same folded bias and interleaved weights, one output at a time. */
static void fc_row_portable(const th_fc_args *a, const int8_t *x, int8_t *y) {
    const int32_t n = a->in_features, k_padded = round_up4(n);
    for (int32_t o = 0; o < a->out_features; ++o) {
        int32_t acc = a->bias[o];
        for (int32_t k = 0; k < n; ++k) {
            acc += x[k] * a->filter[th_fc_weight(a->out_features, k_padded, o, k)];
        }
        y[o] = fc_output(a, acc, o);
    }
}
#endif

void th_fully_connected_folded_s8(const th_fc_args *a, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *x = input + (size_t)b * a->in_features;
        int8_t *y = output + (size_t)b * a->out_features;
#if TINYHIL_USE_DSP
        fc_row_dsp(a, x, y);
#else
        fc_row_portable(a, x, y);
#endif
    }
}
