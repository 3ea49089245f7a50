/* FULLY_CONNECTED int8 fast path: the optimised twin of fully_connected.c, checked by the same tests.
 *
 * The host (lower.py) folds the input offset into the bias, as for the 1x1 convs:
 *   sum((x + o) * w) + b = sum(x * w) + (b + o * sum(w)),
 * so the inner loop is a plain int8 dot product, and interleaves the weights in groups of rows
 * (th_fc_group_rows: 6 or 4, then 2 or 1): per group and per block of 4 inputs, 4 bytes of each row of the
 * group, so one pass over the input feeds the whole group. The input dimension is zero-padded to a
 * multiple of 4.
 *
 * DSP path, per block of 4 inputs: the input word widened once (SXTB16, SXTB16-ROR8), then per row its
 * word widened and two SMLADs, the row words loaded two at a time (LDRD): 30 instructions per 24 MACs
 * (6 rows), 21 per 16 (4 rows); 4 blocks a loop trip. The last 0-3 whole blocks and the partial one come
 * from a zero-padded 16-byte copy, so the asm never needs a tail case. The common requantisation
 * (SMMLAR, no activation narrower than int8) is 8 instructions an output, inline. The input stays int8: no
 * scratch. */
#include <string.h>

/* -O2, not the kernels' -O3: the hot loops are asm already, and -O3's unrolled row loops would make this
 * file several times larger (flash) for nothing */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O2")
#endif

#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static inline int32_t round_up4(int32_t n) { return (n + 3) & ~3; }

/* Rows of the group that starts with `left` rows still to do (lower.py's fc_group_rows is its twin). Per
 * block of 4 inputs a group of R rows costs 4R instructions (SXTB16s and SMLADs) plus 3 for the input word
 * and one LDRD per two rows, so the fewest groups of even size are best: 6 rows (13 registers: the most the
 * M7 has room for), 4, 2, and a single row for an odd out_features. */
static inline int32_t th_fc_group_rows(int32_t left) {
    if (left >= 10 || left == 6 || left == 7) {
        return 6; /* 7 = 6 + 1, 10 = 6 + 4, 11 = 6 + 4 + 1, 12 = 6 + 6, 13 = 6 + 6 + 1, 14 = 6 + 4 + 4 ... */
    }
    if (left >= 4) {
        return 4; /* 5 = 4 + 1, 8 = 4 + 4, 9 = 4 + 4 + 1 */
    }
    return left == 3 ? 2 : left;
}

/* out of line: one copy of the generic requantisation, not one per row of a group */
static __attribute__((noinline)) int8_t fc_output(const th_fc_args *a, int32_t acc, int32_t o) {
    if (a->requant) {
        acc = th_requantise_fast(acc, a->requant[2 * o], a->requant[2 * o + 1]);
    } else {
        acc = th_mbqm(acc, a->out_multiplier[o], a->out_shift[o]);
    }
    return th_clamp_s8(acc + a->output_offset, a->act_min, a->act_max);
}

#if TINYHIL_USE_DSP

/* y[o .. o + rows) from a group's accumulators, any requantisation and activation: out of line, one copy */
static __attribute__((noinline)) void fc_store(const th_fc_args *a, const int32_t *acc, int32_t o, int32_t rows,
                                               int8_t *y) {
    for (int32_t r = 0; r < rows; ++r) {
        y[o + r] = fc_output(a, acc[r], o + r);
    }
}

/* where a row's input blocks are, for the asm loops: the blocks of 4 inputs from x to main_end (trips of 4
 * blocks), then from tail to tail_end (one at a time); in memory, since 6 rows take 13 of the registers */
typedef struct {
    const int8_t *main_end, *tail, *tail_end;
} fc_span;

#if TINYHIL_DSP_ASM
/* asm text of one block of 4 inputs for a group: the input word widened (TH_FC_X), then each row's word */
#define TH_FC_X "ldr    %[t], [%[x]], #4\n\tsxtb16 %[xe], %[t]\n\tsxtb16 %[xo], %[t], ror #8\n\t"
#define TH_FC_MAC(acc, word)                              \
    "sxtb16 %[t], %[" #word "]\n\t"                       \
    "smlad  %[" #acc "], %[xe], %[t], %[" #acc "]\n\t"    \
    "sxtb16 %[t], %[" #word "], ror #8\n\t"               \
    "smlad  %[" #acc "], %[xo], %[t], %[" #acc "]\n\t"
#define TH_FC_TWO(acc0, acc1) "ldrd   %[w0], %[w1], [%[w]], #8\n\t" TH_FC_MAC(acc0, w0) TH_FC_MAC(acc1, w1)
#define TH_FC_ROWS1 "ldr    %[w0], [%[w]], #4\n\t" TH_FC_MAC(a0, w0)
#define TH_FC_ROWS2 TH_FC_TWO(a0, a1)
#define TH_FC_ROWS4 TH_FC_TWO(a0, a1) TH_FC_TWO(a2, a3)
#define TH_FC_ROWS6 TH_FC_ROWS4 TH_FC_TWO(a4, a5)
#define TH_FC_ACCS1 [a0] "=&r"(a0)
#define TH_FC_ACCS2 TH_FC_ACCS1, [a1] "=&r"(a1)
#define TH_FC_ACCS4 TH_FC_ACCS2, [a2] "=&r"(a2), [a3] "=&r"(a3)
#define TH_FC_ACCS6 TH_FC_ACCS4, [a4] "=&r"(a4), [a5] "=&r"(a5)
/* the accumulators start from the group's folded biases (at %[t]) */
#define TH_FC_BIAS1 "ldr    %[a0], [%[t]]\n\t"
#define TH_FC_BIAS2 "ldrd   %[a0], %[a1], [%[t]]\n\t"
#define TH_FC_BIAS4 TH_FC_BIAS2 "ldrd   %[a2], %[a3], [%[t], #8]\n\t"
#define TH_FC_BIAS6 TH_FC_BIAS4 "ldrd   %[a4], %[a5], [%[t], #16]\n\t"
#define TH_FC_TRIP1(R) TH_FC_X TH_FC_ROWS##R
#define TH_FC_TRIP2(R) TH_FC_TRIP1(R) TH_FC_TRIP1(R)
#define TH_FC_TRIP4(R) TH_FC_TRIP2(R) TH_FC_TRIP2(R)
/* fc_dot<R>: acc[0 .. R) = bias[0 .. R) + the R rows of one group over the blocks of `span` (one asm
 * statement, so the accumulators stay in the same registers throughout); returns w past the group. */
#define TH_FC_DOT(R, trip)                                                                                     \
    static inline __attribute__((always_inline)) const uint32_t *fc_dot##R(                                   \
        const int8_t *x, const uint32_t *w, const fc_span *span, const int32_t *bias, int32_t *acc) {         \
        int32_t a0, a1, a2, a3, a4, a5;                                                                        \
        uint32_t t = (uint32_t)(uintptr_t)bias, xe, xo, w0, w1;                                                \
        __asm__ volatile(TH_FC_BIAS##R                                                                         \
                         "ldr    %[t], %[main_end]\n\t"                                                       \
                         "cmp    %[x], %[t]\n\t"                                                               \
                         "beq    2f\n\t"                                                                       \
                         "1:\n\t" TH_FC_TRIP##trip(R) "ldr    %[t], %[main_end]\n\t"                          \
                         "cmp    %[x], %[t]\n\t"                                                               \
                         "bne    1b\n\t"                                                                       \
                         "2:\n\t"                                                                              \
                         "ldr    %[x], %[tail]\n\t"                                                           \
                         "ldr    %[t], %[tail_end]\n\t"                                                       \
                         "cmp    %[x], %[t]\n\t"                                                               \
                         "beq    4f\n\t"                                                                       \
                         "3:\n\t" TH_FC_TRIP1(R) "ldr    %[t], %[tail_end]\n\t"                               \
                         "cmp    %[x], %[t]\n\t"                                                               \
                         "bne    3b\n\t"                                                                       \
                         "4:\n\t"                                                                              \
                         : TH_FC_ACCS##R, [x] "+r"(x), [w] "+r"(w), [xe] "=&r"(xe), [xo] "=&r"(xo),            \
                           [t] "+&r"(t), [w0] "=&r"(w0), [w1] "=&r"(w1)                                        \
                         : [main_end] "m"(span->main_end), [tail] "m"(span->tail), [tail_end] "m"(span->tail_end) \
                         : "cc", "memory");                                                                    \
        acc[0] = a0;                                                                                           \
        if (R > 1) acc[1] = a1;                                                                                \
        if (R > 2) acc[2] = a2, acc[3] = a3;                                                                   \
        if (R > 4) acc[4] = a4, acc[5] = a5;                                                                   \
        return w;                                                                                              \
    }
TH_FC_DOT(1, 2)
TH_FC_DOT(2, 2)
TH_FC_DOT(4, 4)
TH_FC_DOT(6, 4)

/* th_requantise_fast of one accumulator (its {mult, shift - 1} loaded as a pair), the output offset added,
 * saturated to int8 (SSAT) and stored: 8 instructions */
#define TH_FC_REQ(acc)                                    \
    "ldrd   %[m], %[s], [%[q]], #8\n\t"                   \
    "smmlar %[v], %[" #acc "], %[m], %[" #acc "]\n\t"     \
    "add    %[v], %[v], %[v], asr #31\n\t"                \
    "asr    %[v], %[v], %[s]\n\t"                         \
    "sub    %[v], %[v], %[v], asr #1\n\t"                 \
    "add    %[v], %[v], %[off]\n\t"                       \
    "ssat   %[v], #8, %[v]\n\t"                           \
    "strb   %[v], [%[y]], #1\n\t"
#define TH_FC_REQ1 TH_FC_REQ(a0)
#define TH_FC_REQ2 TH_FC_REQ1 TH_FC_REQ(a1)
#define TH_FC_REQ4 TH_FC_REQ2 TH_FC_REQ(a2) TH_FC_REQ(a3)
#define TH_FC_REQ6 TH_FC_REQ4 TH_FC_REQ(a4) TH_FC_REQ(a5)
#define TH_FC_IN1 [a0] "r"(acc[0])
#define TH_FC_IN2 TH_FC_IN1, [a1] "r"(acc[1])
#define TH_FC_IN4 TH_FC_IN2, [a2] "r"(acc[2]), [a3] "r"(acc[3])
#define TH_FC_IN6 TH_FC_IN4, [a4] "r"(acc[4]), [a5] "r"(acc[5])
/* y[0 .. R) from acc[0 .. R) and the requantisation pairs at q, the common case (no activation narrower
 * than SSAT's [-128, 127]) */
#define TH_FC_STORE(R)                                                                                    \
    static inline __attribute__((always_inline)) void fc_requant##R(const int32_t *acc, const int32_t *q, \
                                                                    int32_t offset, int8_t *y) {         \
        int32_t m, s, v;                                                                                  \
        __asm__ volatile(TH_FC_REQ##R                                                                     \
                         : [q] "+r"(q), [y] "+r"(y), [m] "=&r"(m), [s] "=&r"(s), [v] "=&r"(v)             \
                         : TH_FC_IN##R, [off] "r"(offset)                                                 \
                         : "memory");                                                                     \
    }
TH_FC_STORE(1)
TH_FC_STORE(2)
TH_FC_STORE(4)
TH_FC_STORE(6)

#else /* DSP emulated in C on the host: the same blocks, one at a time */
static inline __attribute__((always_inline)) const uint32_t *fc_dot(const int8_t *x, const uint32_t *w, int32_t blocks,
                                                                    int32_t rows, int32_t *acc) {
    for (int32_t b = 0; b < blocks; ++b, x += 4, w += rows) {
        const uint32_t v = th_read_s8x4(x);
        const uint32_t xe = th_sxtb16(v), xo = th_sxtb16_ror8(v);
        for (int32_t r = 0; r < rows; ++r) {
            acc[r] = th_smlad(xe, th_sxtb16(w[r]), th_smlad(xo, th_sxtb16_ror8(w[r]), acc[r]));
        }
    }
    return w;
}
#define TH_FC_DOT_C(R)                                                                                    \
    static inline const uint32_t *fc_dot##R(const int8_t *x, const uint32_t *w, const fc_span *span,          \
                                            const int32_t *bias, int32_t *acc) {                              \
        for (int32_t r = 0; r < (R); ++r) {                                                                   \
            acc[r] = bias[r];                                                                                 \
        }                                                                                                     \
        w = fc_dot(x, w, (int32_t)(span->main_end - x) / 4, R, acc);                                          \
        return fc_dot(span->tail, w, (int32_t)(span->tail_end - span->tail) / 4, R, acc);                     \
    }
TH_FC_DOT_C(1)
TH_FC_DOT_C(2)
TH_FC_DOT_C(4)
TH_FC_DOT_C(6)

static inline void fc_requant(const int32_t *acc, const int32_t *q, int32_t offset, int8_t *y, int32_t rows) {
    for (int32_t r = 0; r < rows; ++r) {
        y[r] = (int8_t)th_ssat8(th_requantise_fast(acc[r], q[2 * r], q[2 * r + 1]) + offset);
    }
}
#define fc_requant1(acc, q, offset, y) fc_requant(acc, q, offset, y, 1)
#define fc_requant2(acc, q, offset, y) fc_requant(acc, q, offset, y, 2)
#define fc_requant4(acc, q, offset, y) fc_requant(acc, q, offset, y, 4)
#define fc_requant6(acc, q, offset, y) fc_requant(acc, q, offset, y, 6)
#endif

/* one group of R rows (a constant here, so the accumulators stay in registers) starting at output o; the
 * common requantisation (SMMLAR, no activation narrower than SSAT's [-128, 127]) inline */
#define TH_FC_GROUP(R)                                                                                 \
    do {                                                                                               \
        int32_t acc[6];                                                                                \
        w = fc_dot##R(x, w, &span, a->bias + o, acc);                                                  \
        if (fast) {                                                                                    \
            fc_requant##R(acc, a->requant + 2 * o, offset, y + o);                                     \
        } else { /* a copy, so that acc itself never needs an address (it stays in registers) */      \
            int32_t copy[6];                                                                           \
            _Pragma("GCC unroll 6") for (int32_t r = 0; r < (R); ++r) {                                \
                copy[r] = acc[r];                                                                      \
            }                                                                                          \
            fc_store(a, copy, o, (R), y);                                                              \
        }                                                                                              \
    } while (0)

/* one batch row: input x (n values), output y, group by group; G6 .. G1: whether groups of 6, 4, 2, 1 rows
 * occur (the variant's constants: the others' loops are not compiled in); FAST: requant set and no activation
 * narrower than SSAT's bounds */
static inline __attribute__((always_inline)) void fc_row_dsp(const th_fc_args *a, const int8_t *x, int8_t *y,
                                                             int G6, int G4, int G2, int G1, int FAST) {
    const int32_t n = a->in_features, out_features = a->out_features;
    /* the whole blocks of 4 inputs in trips of 4 blocks straight from x; the last 0-3 whole blocks and the
     * partial one (n % 4 inputs) from a zero-padded copy, as the weights are padded */
    const int32_t main = (n >> 2) & ~3, rest = (round_up4(n) >> 2) - main;
    union {
        uint32_t words[4];
        int8_t bytes[16];
    } tail;
    if (rest) {
        tail.words[0] = tail.words[1] = tail.words[2] = tail.words[3] = 0;
        for (int32_t i = 4 * main; i < n; ++i) {
            int32_t k = i - 4 * main;
            TH_OPAQUE(k); /* a byte loop, not a memcpy call, for at most 15 bytes */
            tail.bytes[k] = x[i];
        }
    }
    const fc_span span = {x + 4 * main, tail.bytes, tail.bytes + 4 * rest};
    /* FAST: the variant's promise that this holds (the generic requantisation is then not linked) */
    const int32_t fast = FAST || (a->requant && a->act_min == -128 && a->act_max == 127), offset = a->output_offset;
    const uint32_t *w = (const uint32_t *)(const void *)a->filter; /* 4-byte aligned by the generator */
    for (int32_t o = 0, rows; o < out_features; o += rows) {
        rows = th_fc_group_rows(out_features - o);
        if (G6 && rows == 6) {
            TH_FC_GROUP(6);
        } else if (G4 && rows == 4) {
            TH_FC_GROUP(4);
        } else if (G2 && rows == 2) {
            TH_FC_GROUP(2);
        } else if (G1) {
            TH_FC_GROUP(1);
        }
    }
}

#else
/* Portable path: the same folded bias and interleaved weights, one output at a time. */
static void fc_row_portable(const th_fc_args *a, const int8_t *x, int8_t *y) {
    const int32_t n = a->in_features, k_padded = round_up4(n);
    const int8_t *group = a->filter; /* the first weight of the current group */
    for (int32_t o = 0, rows; o < a->out_features; o += rows, group += (size_t)rows * k_padded) {
        rows = th_fc_group_rows(a->out_features - o);
        for (int32_t r = 0; r < rows; ++r) {
            int32_t acc = a->bias[o + r];
            for (int32_t k = 0; k < n; ++k) {
                acc += x[k] * group[(size_t)(k >> 2) * rows * 4 + (size_t)r * 4 + (size_t)(k & 3)];
            }
            y[o + r] = fc_output(a, acc, o + r);
        }
    }
}
#endif

/* The variants (tinyhil_kernels.h), one per set of group sizes a layer's rows make (lower.fully_connected_kernel
 * names it, from fc_group_rows), so that a firmware links only the group loops it runs */
#if TINYHIL_USE_DSP
#define TH_FC_ROW_OF(G6, G4, G2, G1, FAST) fc_row_dsp(a, x, y, G6, G4, G2, G1, FAST)
#else
#define TH_FC_ROW_OF(G6, G4, G2, G1, FAST) fc_row_portable(a, x, y)
#endif
#define TH_FC_FOLDED_ONE(VARIANT, G6, G4, G2, G1, FAST)                                                        \
    void th_fully_connected_folded_##VARIANT##_s8(const th_fc_args *a, const int8_t *input, int8_t *output) { \
        for (int32_t b = 0; b < a->batches; ++b) {                                                            \
            const int8_t *x = input + (size_t)b * a->in_features;                                             \
            int8_t *y = output + (size_t)b * a->out_features;                                                 \
            TH_FC_ROW_OF(G6, G4, G2, G1, FAST);                                                               \
        }                                                                                                     \
    }
#define TH_FC_FOLDED(VARIANT, G6, G4, G2, G1) \
    TH_FC_FOLDED_ONE(VARIANT, G6, G4, G2, G1, 0) TH_FC_FOLDED_ONE(VARIANT##_fast, G6, G4, G2, G1, 1)
TH_FC_FOLDED_VARIANTS(TH_FC_FOLDED)
