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
 * word widened and two SMLADs: 21 instructions per 16 MACs. The input stays int8: no scratch. */
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

/* acc[0..3] += the 4 rows of one group over an even number of whole blocks of 4 inputs (asm on the M7);
 * returns w past them */
static inline const uint32_t *th_fc_dot_4rows(const int8_t *x, const uint32_t *w, int32_t blocks, int32_t acc[4]) {
#if TINYHIL_DSP_ASM
    const int8_t *x_end = x + 4 * blocks;
    uint32_t t, xe, xo, w0, w1;
    __asm__ volatile(
        "1:\n\t" TH_FC_4ROWS_ASM_BLOCK TH_FC_4ROWS_ASM_BLOCK /* unrolled twice */
        "cmp    %[x], %[end]\n\t"
        "bne    1b\n\t"
        : [a0] "+r"(acc[0]), [a1] "+r"(acc[1]), [a2] "+r"(acc[2]), [a3] "+r"(acc[3]), [x] "+r"(x),
          [w] "+r"(w), [t] "=&r"(t), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0] "=&r"(w0), [w1] "=&r"(w1)
        : [end] "r"(x_end)
        : "cc", "memory");
    return w;
#else
    for (int32_t b = 0; b < blocks; ++b, x += 4, w += 4) {
        const uint32_t v = th_read_s8x4(x);
        const uint32_t xe = th_sxtb16(v), xo = th_sxtb16_ror8(v);
        for (int32_t r = 0; r < 4; ++r) {
            TH_FC_ROW(acc[r], w[r]);
        }
    }
    return w;
#endif
}

/* one batch row: input x (n values), output y; per group of (up to) 4 rows, the even whole blocks
 * through th_fc_dot_4rows, the rest (an odd block, the zero-padded last block) one block at a time */
static void fc_row_dsp(const th_fc_args *a, const int8_t *x, int8_t *y) {
    const int32_t n = a->in_features, out_features = a->out_features;
    const int32_t whole = n >> 2, blocks = round_up4(n) >> 2;
    int8_t tail[4] = {0, 0, 0, 0}; /* the last partial block of the input, zero-padded like the weights */
    memcpy(tail, x + 4 * whole, (size_t)(n - 4 * whole));
    const uint32_t tail_v = th_read_s8x4(tail);
    const uint32_t *w = (const uint32_t *)(const void *)a->filter; /* 4-byte aligned by the generator */
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    for (int32_t o = 0; o < out_features; o += 4) {
        const int32_t rows = th_min_i32(4, out_features - o);
        int32_t acc[4] = {0, 0, 0, 0};
        for (int32_t r = 0; r < rows; ++r) {
            acc[r] = a->bias[o + r];
        }
        int32_t b = 0;
        if (rows == 4 && whole >= 2) {
            b = whole & ~1;
            w = th_fc_dot_4rows(x, w, b, acc);
        }
        for (; b < blocks; ++b, w += rows) {
            const uint32_t v = b < whole ? th_read_s8x4(x + 4 * b) : tail_v;
            const uint32_t xe = th_sxtb16(v), xo = th_sxtb16_ror8(v);
            for (int32_t r = 0; r < rows; ++r) {
                TH_FC_ROW(acc[r], w[r]);
            }
        }
        if (rows == 4 && a->requant) { /* the common case: 4 outputs requantised (SMMLAR) and stored as one word */
            const int32_t *q = a->requant + 2 * o, offset = a->output_offset;
            const uint32_t packed = th_pack_s8x4(th_ssat8(th_requantise_fast(acc[0], q[0], q[1]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[1], q[2], q[3]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[2], q[4], q[5]) + offset),
                                                 th_ssat8(th_requantise_fast(acc[3], q[6], q[7]) + offset));
            th_write_s8x4(y + o, th_clamp_s8x4(packed, lo4, hi4));
            continue;
        }
        for (int32_t r = 0; r < rows; ++r) {
            y[o + r] = fc_output(a, acc[r], o + r);
        }
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
