/* The int8 matrix product shared by the convolutions that reduce to one (1x1 pointwise, and
 * im2col for the others): out[p][oc] = requantise(bias[oc] + sum_k x[p][k] * w[oc][k]).
 *
 * Weight layout, written by the host (lower.py, reorder_filter_pairs): output channels in pairs,
 * the reduction dimension K zero-padded to a multiple of 4; for each pair and each block of 4 k,
 * 8 bytes: 4 weights of the even channel, then 4 of the odd one. One 64-bit load brings both.
 *
 * DSP path: the activations of two pixels are widened to int16 once per pixel pair into a scratch
 * buffer ("q15 blocks": per 4 k, SXTB16 and SXTB16-ROR8 of x for pixel 0, then for pixel 1), in
 * the order SXTB16 / SXTB16-ROR8 of the raw weights produces, so the inner loop is loads,
 * 4 extends and 8 SMLADs per 16 MACs (2 pixels x 2 channels x 4 k). On the M7 the whole loop over the
 * channel pairs (bias, dot product, requantisation, packed store) is one asm block, so that the per-pair
 * work around the dot product (what dominates when K is short: the 1x1 convs after a stem, K = 8) is
 * ~50 instructions instead of the compiler's ~75 with its spills. */
#ifndef TINYHIL_MATMUL_H
#define TINYHIL_MATMUL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"
#include "tinyhil_table.h"

#define TH_STR_(x) #x
#define TH_STR(x) TH_STR_(x)

static inline int32_t th_round_up4(int32_t n) { return (n + 3) & ~3; }

/* accumulator -> int8 output with the layer's requantisation, offset and activation clamp */
static inline int8_t th_conv_output(const th_conv_args *a, int32_t acc, int32_t oc) {
    if (a->requant) {
        acc = th_requantise_fast(acc, a->requant[2 * oc], a->requant[2 * oc + 1]);
    } else {
        acc = th_mbqm(acc, a->out_multiplier[oc], a->out_shift[oc]);
    }
    return th_clamp_s8(acc + a->output_offset, a->act_min, a->act_max);
}

/* weight k of channel oc in the pair layout */
static inline int32_t th_pair_weight(const int8_t *filter, int32_t k_padded, int32_t oc, int32_t k) {
    return filter[(size_t)(oc & ~1) * k_padded + (size_t)(k >> 2) * 8 + (oc & 1) * 4 + (k & 3)];
}

/* Portable path: one pixel of n int8 values x all output channels. */
static inline void th_matmul_1px(const th_conv_args *a, const int8_t *x, int32_t n, int8_t *y) {
    const int32_t k_padded = th_round_up4(n);
    for (int32_t oc = 0; oc < a->out_c; ++oc) {
        int32_t acc = a->bias[oc];
        for (int32_t k = 0; k < n; ++k) {
            acc += x[k] * th_pair_weight(a->filter, k_padded, oc, k);
        }
        y[oc] = th_conv_output(a, acc, oc);
    }
    if (a->table) {
        th_table_lookup_s8(a->table, a->out_c, y, y);
    }
}

#if TINYHIL_USE_DSP
/* q15 blocks of one pixel (n int8 values, zero-padded to a multiple of 4) at every 4th word of
 * dst: dst[4b], dst[4b + 1] for block b (the pixel's slot in the pair layout). */
static inline void th_q15_pixel(const int8_t *x, int32_t n, uint32_t *dst) {
    int32_t k = 0;
    for (; k + 4 <= n; k += 4, dst += 4) {
        const uint32_t v = th_read_s8x4(x + k);
        dst[0] = th_sxtb16(v);
        dst[1] = th_sxtb16_ror8(v);
    }
    if (k < n) {
        int8_t tail[4] = {0, 0, 0, 0};
        memcpy(tail, x + k, (size_t)(n - k));
        const uint32_t v = th_read_s8x4(tail);
        dst[0] = th_sxtb16(v);
        dst[1] = th_sxtb16_ror8(v);
    }
}

/* th_q15_pixel of both pixels of a pair (x1 == x0 for an odd last pixel) in one pass: per block both
 * pixels' 4 words are written together, and the loop and its tests are paid once per pair. */
static inline void th_q15_pixel_pair(const int8_t *x0, const int8_t *x1, int32_t n, uint32_t *dst) {
    const int8_t *const x0_whole_end = x0 + (n & ~3);
#if TINYHIL_DSP_ASM
    if (x0 < x0_whole_end) { /* 10 instructions per block, the compiler's loop 13 and its pointers recomputed */
        uint32_t v0, v1, e0, e1;
        __asm__ volatile(
            "1:\n\t"
            "ldr    %[v0], [%[x0]], #4\n\t" /* LDR, not LDRD: the pixels need not be word-aligned */
            "ldr    %[v1], [%[x1]], #4\n\t"
            "sxtb16 %[e0], %[v0]\n\t"
            "sxtb16 %[v0], %[v0], ror #8\n\t"
            "sxtb16 %[e1], %[v1]\n\t"
            "sxtb16 %[v1], %[v1], ror #8\n\t"
            "strd   %[e1], %[v1], [%[dst], #8]\n\t"
            "strd   %[e0], %[v0], [%[dst]], #16\n\t"
            "cmp    %[x0], %[end]\n\t"
            "bne    1b\n\t"
            : [x0] "+r"(x0), [x1] "+r"(x1), [dst] "+r"(dst), [v0] "=&r"(v0), [v1] "=&r"(v1), [e0] "=&r"(e0),
              [e1] "=&r"(e1)
            : [end] "r"(x0_whole_end)
            : "cc", "memory");
    }
#else
    for (; x0 < x0_whole_end; x0 += 4, x1 += 4, dst += 4) {
        const uint32_t v0 = th_read_s8x4(x0), v1 = th_read_s8x4(x1);
        dst[0] = th_sxtb16(v0);
        dst[1] = th_sxtb16_ror8(v0);
        dst[2] = th_sxtb16(v1);
        dst[3] = th_sxtb16_ror8(v1);
    }
#endif
    if (n & 3) { /* the last block, zero-padded */
        th_q15_pixel(x0, n & 3, dst);
        th_q15_pixel(x1, n & 3, dst + 2);
    }
}

/* acc[0..3] (pixel 0 ch 0, pixel 0 ch 1, pixel 1 ch 0, pixel 1 ch 1) += one block of 4 k */
#define TH_MATMUL_BLOCK(x, w)                                                          \
    do {                                                                               \
        const uint32_t w0_ = (w)[0], w1_ = (w)[1];                                     \
        const uint32_t w0e_ = th_sxtb16(w0_), w0o_ = th_sxtb16_ror8(w0_);              \
        const uint32_t w1e_ = th_sxtb16(w1_), w1o_ = th_sxtb16_ror8(w1_);              \
        const uint32_t x0e_ = (x)[0], x0o_ = (x)[1], x1e_ = (x)[2], x1o_ = (x)[3];     \
        acc[0] = th_smlad(x0e_, w0e_, th_smlad(x0o_, w0o_, acc[0]));                   \
        acc[1] = th_smlad(x0e_, w1e_, th_smlad(x0o_, w1o_, acc[1]));                   \
        acc[2] = th_smlad(x1e_, w0e_, th_smlad(x1o_, w0o_, acc[2]));                   \
        acc[3] = th_smlad(x1e_, w1e_, th_smlad(x1o_, w1o_, acc[3]));                   \
    } while (0)

/* One block of 4 k for the 2x2 tile in asm, the twin of TH_MATMUL_BLOCK: load 2 weight words and widen them
 * to 4 q15 pairs (SXTB16), then 8 SMLADs against the two pixels' q15 pairs. */
#define TH_DOT_2X2_ASM_BLOCK \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"     \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"     \
    "sxtb16 %[w2], %[w0]\n\t"                 \
    "sxtb16 %[w0], %[w0], ror #8\n\t"         \
    "sxtb16 %[w3], %[w1]\n\t"                 \
    "sxtb16 %[w1], %[w1], ror #8\n\t"         \
    "smlad  %[a00], %[x0], %[w2], %[a00]\n\t" \
    "smlad  %[a00], %[x1], %[w0], %[a00]\n\t" \
    "smlad  %[a01], %[x0], %[w3], %[a01]\n\t" \
    "smlad  %[a01], %[x1], %[w1], %[a01]\n\t" \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"     \
    "smlad  %[a10], %[x0], %[w2], %[a10]\n\t" \
    "smlad  %[a10], %[x1], %[w0], %[a10]\n\t" \
    "smlad  %[a11], %[x0], %[w3], %[a11]\n\t" \
    "smlad  %[a11], %[x1], %[w1], %[a11]\n\t"

/* The 2 pixel x 2 channel dot products over `blocks` blocks of 4 k; returns w past the pair.
 * On the M7 the loop is hand-scheduled asm: the compiler spills accumulators otherwise, and
 * the 13 live registers (4 accumulators, 4 widened weights, 2 inputs, 3 pointers) just fit. */
static inline const uint32_t *th_dot_2x2(const uint32_t *x, const uint32_t *w, int32_t blocks, int32_t acc[4]) {
    const uint32_t *x_pairs_end = x + 8 * (blocks >> 1);
#if TINYHIL_DSP_ASM
    if (blocks >= 2) {
        uint32_t w0, w1, w2, w3, x0, x1;
        __asm__ volatile(
            "1:\n\t" TH_DOT_2X2_ASM_BLOCK TH_DOT_2X2_ASM_BLOCK /* unrolled twice */
            "cmp    %[x], %[end]\n\t"
            "bne    1b\n\t"
            : [a00] "+r"(acc[0]), [a01] "+r"(acc[1]), [a10] "+r"(acc[2]), [a11] "+r"(acc[3]), [x] "+r"(x),
              [w] "+r"(w), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [x0] "=&r"(x0),
              [x1] "=&r"(x1)
            : [end] "r"(x_pairs_end)
            : "cc", "memory");
    }
#else
    for (; x < x_pairs_end; x += 8, w += 4) {
        TH_MATMUL_BLOCK(x, w);
        TH_MATMUL_BLOCK(x + 4, w + 2);
    }
#endif
    if (blocks & 1) {
        TH_MATMUL_BLOCK(x, w);
        w += 2;
    }
    return w;
}

/* The per-layer state of the two-pixel product: the asm's loop reads and writes it at these byte offsets
 * (the loop needs all 13 free registers for the 2 x 2 dot product, so its pointers and constants live
 * here); th_matmul_2px_prepare fills the fields that are the same for every pixel pair once per layer. */
typedef struct {
    const int32_t *bias;         /* 0: the pair's two folded biases, advanced by 2 per pair */
    const int32_t *requant;      /* 4: {mult, shift - 1} of the two channels, advanced by 4 per pair */
    int8_t *y0, *y1;             /* 8, 12: the two pixels' outputs, advanced by 2 per pair */
    int32_t offset;              /* 16: the output offset */
    int8_t *y0_end;              /* 20: y0 past the last pair (at least one pair) */
    uint32_t lo4, hi4;           /* 24, 28: the activation bounds in every byte */
    const uint32_t *xq;          /* 32: the q15 blocks of the two pixels */
    int32_t entry_bytes;         /* 36: where the loop's trip is entered, so that its trips do all blocks */
    const uint32_t *x_end;       /* 40: xq past the last block (the loop's end) */
    int32_t blocks;              /* K padded / 4 */
    int32_t clamp;               /* the activation bounds are narrower than int8 (else SSAT is the clamp) */
    int32_t pairs_only;          /* every output is the asm loop's: even out_c, the fast requantisation, no table */
} th_pair_loop;
#if TINYHIL_DSP_ASM
/* the asm's offsets, checked at compile time (C99: a negative array size is the error) */
typedef char th_pair_loop_offsets_match_the_asm[(offsetof(th_pair_loop, y0_end) == 20 && offsetof(th_pair_loop, xq) == 32
                                                 && offsetof(th_pair_loop, x_end) == 40) ? 1 : -1];
#endif

/* bytes of one TH_DOT_2X2_ASM_BLOCK: 15 instructions that have only 32-bit Thumb encodings (the asm checks it) */
#define TH_DOT_2X2_ASM_BLOCK_BYTES 60
/* blocks per trip of the channel-pair loop (powers of 2): each trip ends with 3 instructions of loop test, so
 * long trips for the common loop without the clamp (16: 9 instructions less per channel pair at K = 64), short
 * ones for the rare clamped copy (its code is in every firmware that has the loop, used or not) */
#define TH_PAIRS_TRIP_BLOCKS 16
#define TH_PAIRS_TRIP_BLOCKS_CLAMPED 4
#define TH_DOT_2X2_ASM_BLOCKS_4 TH_DOT_2X2_ASM_BLOCK TH_DOT_2X2_ASM_BLOCK TH_DOT_2X2_ASM_BLOCK TH_DOT_2X2_ASM_BLOCK
#define TH_DOT_2X2_ASM_BLOCKS_16 \
    TH_DOT_2X2_ASM_BLOCKS_4 TH_DOT_2X2_ASM_BLOCKS_4 TH_DOT_2X2_ASM_BLOCKS_4 TH_DOT_2X2_ASM_BLOCKS_4

static inline void th_matmul_2px_prepare(const th_conv_args *a, const uint32_t *xq, int32_t blocks, th_pair_loop *c) {
    c->offset = a->output_offset;
    c->lo4 = th_splat_s8x4(a->act_min);
    c->hi4 = th_splat_s8x4(a->act_max);
    c->xq = xq;
    c->clamp = a->act_min > -128 || a->act_max < 127;
    /* blocks = Tq + r (T blocks a trip): with r > 0 the first trip starts at block T - r of the loop's T (Duff's
     * device) */
    const int32_t trip = c->clamp ? TH_PAIRS_TRIP_BLOCKS_CLAMPED : TH_PAIRS_TRIP_BLOCKS;
    c->entry_bytes = ((trip - (blocks & (trip - 1))) & (trip - 1)) * TH_DOT_2X2_ASM_BLOCK_BYTES;
    c->x_end = xq + 4 * blocks;
    c->blocks = blocks;
    c->pairs_only = a->requant != NULL && a->out_c % 2 == 0 && a->out_c > 0 && a->table == NULL;
}

#if TINYHIL_DSP_ASM
/* The channel-pair loop's asm, up to the clamp: bias, the dot product (TH_DOT_2X2_ASM_BLOCK, TH_PAIRS_TRIP_BLOCKS
 * blocks per trip, the first trip entered part-way by a computed branch, so no per-pair tests for the K % (4 T) blocks
 * left), requantisation (th_requantise_fast's four instructions, the offset, SSAT), the 4 bytes packed (BFI)
 * into a00. ADD PC reads PC as its own address + 4: the NOP pads the 16-bit ADD to that, and the assembler
 * checks both that and the block size the entry offsets assume. */
#define TH_PAIRS_ASM_HEAD(TRIP_ASM, TRIP_BLOCKS)    \
    "0:\n\t"                                        \
    "ldr    %[x], [%[c], #0]\n\t"                   \
    "ldrd   %[a00], %[a01], [%[x]]\n\t" /* the biases loaded twice: one instruction less than two MOVs */ \
    "ldrd   %[a10], %[a11], [%[x]], #8\n\t"         \
    "str    %[x], [%[c], #0]\n\t"                   \
    "ldrd   %[x], %[w2], [%[c], #32]\n\t"           \
    "6:\n\t"                                        \
    "add    pc, %[w2]\n\t"                          \
    "nop\n\t"                                       \
    "1:\n\t" TRIP_ASM                               \
    "5:\n\t"                                        \
    ".if (1b - 6b) != 4 || (5b - 1b) != " TH_STR(TRIP_BLOCKS) " * " TH_STR(TH_DOT_2X2_ASM_BLOCK_BYTES) "\n\t" \
    ".error \"th_matmul: the computed entry does not match the code\"\n\t" \
    ".endif\n\t"                                    \
    "ldr    %[w2], [%[c], #40]\n\t" /* no register is left for the end: one load per trip */ \
    "cmp    %[x], %[w2]\n\t"                        \
    "bne    1b\n\t"                                 \
    "3:\n\t"                                        \
    "ldr    %[x], [%[c], #4]\n\t"                   \
    "ldrd   %[w0], %[w1], [%[x]], #8\n\t"           \
    "ldrd   %[w2], %[w3], [%[x]], #8\n\t"           \
    "str    %[x], [%[c], #4]\n\t"                   \
    "smmlar %[a00], %[a00], %[w0], %[a00]\n\t"      \
    "smmlar %[a10], %[a10], %[w0], %[a10]\n\t"      \
    "smmlar %[a01], %[a01], %[w2], %[a01]\n\t"      \
    "smmlar %[a11], %[a11], %[w2], %[a11]\n\t"      \
    "add    %[a00], %[a00], %[a00], asr #31\n\t"    \
    "add    %[a10], %[a10], %[a10], asr #31\n\t"    \
    "add    %[a01], %[a01], %[a01], asr #31\n\t"    \
    "add    %[a11], %[a11], %[a11], asr #31\n\t"    \
    "asr    %[a00], %[a00], %[w1]\n\t"              \
    "asr    %[a10], %[a10], %[w1]\n\t"              \
    "asr    %[a01], %[a01], %[w3]\n\t"              \
    "asr    %[a11], %[a11], %[w3]\n\t"              \
    "sub    %[a00], %[a00], %[a00], asr #1\n\t"     \
    "sub    %[a10], %[a10], %[a10], asr #1\n\t"     \
    "sub    %[a01], %[a01], %[a01], asr #1\n\t"     \
    "sub    %[a11], %[a11], %[a11], asr #1\n\t"     \
    "ldr    %[x], [%[c], #16]\n\t"                  \
    "add    %[a00], %[a00], %[x]\n\t"               \
    "add    %[a10], %[a10], %[x]\n\t"               \
    "add    %[a01], %[a01], %[x]\n\t"               \
    "add    %[a11], %[a11], %[x]\n\t"               \
    "ssat   %[a00], #8, %[a00]\n\t"                 \
    "ssat   %[a10], #8, %[a10]\n\t"                 \
    "ssat   %[a01], #8, %[a01]\n\t"                 \
    "ssat   %[a11], #8, %[a11]\n\t"                 \
    "bfi    %[a00], %[a01], #8, #8\n\t"             \
    "bfi    %[a00], %[a10], #16, #8\n\t"            \
    "bfi    %[a00], %[a11], #24, #8\n\t"

/* each byte of a00 clamped to the activation bounds (SSUB8 sets one GE flag per byte, SEL picks by it) */
#define TH_PAIRS_ASM_CLAMP                          \
    "ldrd   %[w0], %[w1], [%[c], #24]\n\t"          \
    "ssub8  %[w2], %[a00], %[w0]\n\t"               \
    "sel    %[a00], %[a00], %[w0]\n\t"              \
    "ssub8  %[w2], %[a00], %[w1]\n\t"               \
    "sel    %[a00], %[w1], %[a00]\n\t"

/* the two pixels' halfwords stored, the next pair */
#define TH_PAIRS_ASM_TAIL                           \
    "ldrd   %[w0], %[w1], [%[c], #8]\n\t"           \
    "strh   %[a00], [%[w0]], #2\n\t"                \
    "lsr    %[a00], %[a00], #16\n\t"                \
    "strh   %[a00], [%[w1]], #2\n\t"                \
    "strd   %[w0], %[w1], [%[c], #8]\n\t"           \
    "ldr    %[w1], [%[c], #20]\n\t"                 \
    "cmp    %[w0], %[w1]\n\t"                       \
    "bne    0b\n\t"

#define TH_PAIRS_ASM_OPERANDS                                                                                  \
    : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [x] "=&r"(x), [w] "+r"(w),      \
      [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [x0] "=&r"(x0), [x1] "=&r"(x1)          \
    : [c] "r"(c)                                                                                               \
    : "cc", "memory"

/* Every whole channel pair of two pixels in one asm loop (tinyhil_matmul.c: one copy for all the kernels) */
const uint32_t *th_matmul_pairs_asm(th_pair_loop *c, const uint32_t *w);
#endif

/* Two pixels (their q15 blocks at c->xq, prepared by th_matmul_2px_prepare) x all output channels; y1 NULL
 * for one: any channel count, requantisation and table (tinyhil_matmul.c) */
void th_matmul_2px_q15_general(const th_conv_args *a, th_pair_loop *c, int8_t *y0, int8_t *y1);

/* th_matmul_2px_q15_general, inlined where all of it is the asm loop (an even channel count, the fast
 * requantisation, no table, two pixels): the call costs a few stores, not the general function's prologue */
static inline __attribute__((always_inline)) void th_matmul_2px_q15_prepared(const th_conv_args *a, th_pair_loop *c,
                                                                             int8_t *y0, int8_t *y1) {
#if TINYHIL_DSP_ASM
    if (c->pairs_only && y1) {
        c->bias = a->bias;
        c->requant = a->requant;
        c->y0 = y0;
        c->y1 = y1;
        c->y0_end = y0 + a->out_c;
        th_matmul_pairs_asm(c, (const uint32_t *)(const void *)a->filter);
        return;
    }
#endif
    th_matmul_2px_q15_general(a, c, y0, y1);
}

/* One pixel (its q15 block widened into both halves of the pair) through th_matmul_2px_q15_prepared: where the
 * asm pair loop takes it, both halves are stored to the same bytes (the same values), cheaper than the general
 * path's one-pixel tail; elsewhere (a table, odd channels) the general path with y1 NULL. */
static inline void th_matmul_1px_q15_prepared(const th_conv_args *a, th_pair_loop *c, int8_t *y0) {
    th_matmul_2px_q15_prepared(a, c, y0, c->pairs_only ? y0 : NULL);
}

/* th_matmul_2px_q15_prepared with the per-layer state made for this call */
static inline void th_matmul_2px_q15(const th_conv_args *a, const uint32_t *xq, int32_t blocks, int8_t *y0,
                                     int8_t *y1) {
    th_pair_loop c;
    th_matmul_2px_prepare(a, xq, blocks, &c);
    th_matmul_2px_q15_prepared(a, &c, y0, y1);
}
#endif

#endif
