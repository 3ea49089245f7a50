/* DEPTHWISE_CONV_2D int8, depth multiplier 1, stride 1 or 2 and dilation 1 in W (TFLite
 * reference_integer_ops::DepthwiseConvPerChannel): two output pixels of one channel per step, one SMLAD
 * for two taps.
 *
 * SMLAD adds two products into one accumulator, so its operands must be two taps of one channel: the
 * input rows come into a ring (as in tinyhil_depthwise.h: k_h slots, rows reused by later windows, safe
 * in place) widened to q15 with the input offset added and laid out per channel, [channel][column]. A
 * word at an even column is then the pair (x[col], x[col + 1]) of one channel, and padding is 0 (the
 * zero point plus the input offset), so every window runs without bounds checks.
 *
 * Weights come from the host (lower.widen_depthwise_pairs) per channel and filter row as q15 pairs, for
 * the two outputs ox (even) and ox + 1 of that step, with P_j the input pair at column ox * stride + 2j:
 *   stride 1, k_w odd = 2m + 1 (an even k_w gets a zero tap), words E_0..E_{m-1}, O_1..O_m with
 *     E_i = (w[2i], w[2i+1]), O_i = (w[2i-1], w[2i]):
 *     out0 = sum_{i<m} SMLAD(P_i, E_i) + SMLABT(P_m, O_m)     (x[2m] * w[2m]: bottom of P_m, top of O_m)
 *     out1 = SMLATB(P_0, E_0) + sum_{i=1..m} SMLAD(P_i, O_i)   (x[1] * w[0]: top of P_0, bottom of E_0)
 *     k_w = 1 (m = 0): one word (w[0], w[0]) is E_0 and O_0;
 *   stride 2, n = ceil(k_w / 2) words F_i = (w[2i], w[2i+1]) (w zero-padded):
 *     out0 = sum_{i<n} SMLAD(P_i, F_i),  out1 = sum_{i<n} SMLAD(P_{i+1}, F_i).
 * Each channel's words are followed by {bias, mult, K, e} (th_dwp_record): the requantisation
 * th_requantise_fast computes, with the output offset folded in, for a right shift e of 1..24 (the host
 * checks; e = 0 in every record means the layer takes the portable row): with y = h + (h < 0 ? -1 : 0),
 * h = SMMLAR(acc, mult, acc) (SRDHM), RDBPOT(h, e) = (y + 2^(e-1)) >> e, so
 *   RDBPOT(h, e) + offset = (y + K) >> e,  K = 2^(e-1) + offset * 2^e,
 * the sum saturated (QADD: a saturated sum still saturates the output byte while e <= 24).
 * A 3x3 stride-1 step is then 3 LDRD of inputs, 3 of weights, 12 multiplies and 10 instructions of
 * requantisation for 18 MACs.
 *
 * Scratch: k_h ring slots of in_c x th_dwp_ring_width q15 (tinyhil_kernels.h; scratch.py computes the
 * same). */
#include "tinyhil_depthwise.h"

/* Columns per ring row: the padded input row, plus what the last step's phantom odd output reads when
 * out_w is odd, rounded up to even (word pairs). scratch.py's depthwise_pairs_ring_bytes mirrors it. */
int32_t th_dwp_ring_width(const th_conv_args *a) {
    const int32_t out_w2 = (a->out_w + 1) & ~1;
    const int32_t reach = a->stride_w == 1 ? out_w2 + (a->k_w | 1) - 1 : 2 * out_w2 + 2 * ((a->k_w + 1) / 2) - 2;
    const int32_t padded = th_dw_padded_width(a);
    return ((reach > padded ? reach : padded) + 1) & ~1;
}

/* q15 words per channel and filter row (see the file comment) */
static inline int32_t th_dwp_row_words(const th_conv_args *a) {
    if (a->stride_w == 2) {
        return (a->k_w + 1) / 2;
    }
    const int32_t m = (a->k_w | 1) / 2;
    return m == 0 ? 1 : 2 * m;
}

#define TH_DWP_PARAMS 4 /* after each channel's weights: bias, mult, K, e */
/* one channel's record: its k_h x th_dwp_row_words weight words, then TH_DWP_PARAMS words */
static inline const int32_t *th_dwp_record(const th_conv_args *a, int32_t c) {
    const int32_t words = a->k_h * th_dwp_row_words(a) + TH_DWP_PARAMS;
    return (const int32_t *)(const void *)a->filter_q15 + (size_t)c * words;
}

#if TINYHIL_DSP_ASM
static inline uint32_t th_dwp_pkhbt(uint32_t lo, uint32_t hi) { /* (lo16(lo), lo16(hi)) */
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
static inline uint32_t th_dwp_pkhtb(uint32_t hi, uint32_t lo) { /* (hi16(lo), hi16(hi)) */
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#else
static inline uint32_t th_dwp_pkhbt(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | (hi << 16); }
static inline uint32_t th_dwp_pkhtb(uint32_t hi, uint32_t lo) { return (hi & 0xFFFF0000u) | (lo >> 16); }
#endif

/* the padding runs are 1-2 words: no loop may become a memset call */
#if defined(__GNUC__) && !defined(__clang__)
#define TH_DWP_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TH_DWP_NO_MEMSET
#endif

#if TINYHIL_USE_DSP
/* th_dwp_fill's image row for channels 0 .. 4 * (in_c / 4) - 1, column pair by column pair, 4 channels per
 * step (many channels, few columns: the per-pair work is the inner loop): a pair's 4 words go to 4 channel
 * rows `plane` bytes apart (p and q = p + 2 planes, both stepping 4 planes). pads: write the padding too. */
TH_DWP_NO_MEMSET static void th_dwp_fill_by_pair(const th_conv_args *a, int32_t width, const int8_t *src, int16_t *row, int pads,
                                uint32_t offsets) {
    const int32_t in_c = a->in_c, first = a->pad_w, last = th_min_i32(width, a->pad_w + a->in_w);
    const int32_t groups = in_c >> 2, plane = width * 2, words = width >> 1;
    const int32_t pair_first = (first + 1) & ~1;
    const int32_t pairs = last > pair_first ? (last - pair_first) >> 1 : 0, pair_last = pair_first + 2 * pairs;
    uint8_t *base = (uint8_t *)(void *)row;
    for (int32_t j = 0; j < words; ++j) {
        const int32_t col = 2 * j;
        uint8_t *p = base + 4 * (size_t)j, *q = p + 2 * plane;
        const uint8_t *const end = p + (size_t)groups * 4 * plane;
        if (col + 1 < first || col >= last + (last & 1)) { /* padding on both columns */
            if (pads) {
                for (; p < end; p += 4 * plane, q += 4 * plane) {
                    *(uint32_t *)(void *)p = 0, *(uint32_t *)(void *)(p + plane) = 0;
                    *(uint32_t *)(void *)q = 0, *(uint32_t *)(void *)(q + plane) = 0;
                }
            }
        } else if (col + 1 == first) { /* (0, x[first]) */
            const int8_t *x = src;
            for (; p < end; p += 4 * plane, q += 4 * plane, x += 4) {
                const uint32_t v = th_read_s8x4(x);
                const uint32_t e = th_sxtab16(offsets, v), o = th_sxtab16_ror8(offsets, v);
                *(uint32_t *)(void *)p = e << 16, *(uint32_t *)(void *)q = th_dwp_pkhtb(e, 0);
                *(uint32_t *)(void *)(p + plane) = o << 16, *(uint32_t *)(void *)(q + plane) = th_dwp_pkhtb(o, 0);
            }
        } else if (col == pair_last && pair_last < last) { /* (x[last - 1], 0) */
            const int8_t *x = src + (size_t)(col - first) * in_c;
            for (; p < end; p += 4 * plane, q += 4 * plane, x += 4) {
                const uint32_t v = th_read_s8x4(x);
                const uint32_t e = th_sxtab16(offsets, v), o = th_sxtab16_ror8(offsets, v);
                *(uint32_t *)(void *)p = e & 0xFFFFu, *(uint32_t *)(void *)q = e >> 16;
                *(uint32_t *)(void *)(p + plane) = o & 0xFFFFu, *(uint32_t *)(void *)(q + plane) = o >> 16;
            }
        } else { /* two image columns */
            const int8_t *xa = src + (size_t)(col - first) * in_c, *xb = xa + in_c;
            for (; p < end; p += 4 * plane, q += 4 * plane, xa += 4, xb += 4) {
                const uint32_t va = th_read_s8x4(xa), vb = th_read_s8x4(xb);
                const uint32_t ae = th_sxtab16(offsets, va), be = th_sxtab16(offsets, vb);
                const uint32_t ao = th_sxtab16_ror8(offsets, va), bo = th_sxtab16_ror8(offsets, vb);
                *(uint32_t *)(void *)p = th_dwp_pkhbt(ae, be), *(uint32_t *)(void *)q = th_dwp_pkhtb(be, ae);
                *(uint32_t *)(void *)(p + plane) = th_dwp_pkhbt(ao, bo);
                *(uint32_t *)(void *)(q + plane) = th_dwp_pkhtb(bo, ao);
            }
        }
    }
}

/* The same, 4 channels at a time, each group's column pairs in turn (few channels, many columns). */
TH_DWP_NO_MEMSET static void th_dwp_fill_by_group(const th_conv_args *a, int32_t width, const int8_t *src, int16_t *row, int pads,
                                 uint32_t offsets) {
    const int32_t in_c = a->in_c, first = a->pad_w, last = th_min_i32(width, a->pad_w + a->in_w);
    const int32_t pair_first = (first + 1) & ~1, words = width >> 1;
    const int32_t pairs = last > pair_first ? (last - pair_first) >> 1 : 0, pair_last = pair_first + 2 * pairs;
    const int32_t lead_zeros = first >> 1, trail_zeros = words - (pair_last >> 1) - (pair_last < last);
    const int8_t *x0 = src + (size_t)(pair_first - first) * in_c;
    for (int32_t c = 0; c + 4 <= in_c; c += 4) {
        uint32_t *r0 = (uint32_t *)(void *)(row + (size_t)c * width);
        uint32_t *r1 = r0 + words, *r2 = r1 + words, *r3 = r2 + words;
        if (pads) {
            for (int32_t i = 0; i < lead_zeros; ++i) {
                r0[i] = 0, r1[i] = 0, r2[i] = 0, r3[i] = 0;
            }
        }
        r0 += lead_zeros, r1 += lead_zeros, r2 += lead_zeros, r3 += lead_zeros;
        if (first & 1) { /* (0, x[first]) */
            const uint32_t x = th_read_s8x4(src + c);
            const uint32_t e = th_sxtab16(offsets, x), o = th_sxtab16_ror8(offsets, x);
            *r0++ = e << 16, *r2++ = th_dwp_pkhtb(e, 0), *r1++ = o << 16, *r3++ = th_dwp_pkhtb(o, 0);
        }
        const int8_t *x = x0 + c;
        for (int32_t i = 0; i < pairs; ++i, x += 2 * in_c) {
            const uint32_t xa = th_read_s8x4(x), xb = th_read_s8x4(x + in_c);
            const uint32_t ae = th_sxtab16(offsets, xa), be = th_sxtab16(offsets, xb);
            const uint32_t ao = th_sxtab16_ror8(offsets, xa), bo = th_sxtab16_ror8(offsets, xb);
            *r0++ = th_dwp_pkhbt(ae, be);
            *r2++ = th_dwp_pkhtb(be, ae);
            *r1++ = th_dwp_pkhbt(ao, bo);
            *r3++ = th_dwp_pkhtb(bo, ao);
        }
        if (pair_last < last) { /* (x[last - 1], 0) */
            const uint32_t xl = th_read_s8x4(x);
            const uint32_t e = th_sxtab16(offsets, xl), o = th_sxtab16_ror8(offsets, xl);
            *r0++ = e & 0xFFFFu, *r2++ = e >> 16, *r1++ = o & 0xFFFFu, *r3++ = o >> 16;
        }
        if (pads) {
            for (int32_t i = 0; i < trail_zeros; ++i) {
                r0[i] = 0, r1[i] = 0, r2[i] = 0, r3[i] = 0;
            }
        }
    }
}
#endif

/* th_dwp_fill_by_pair or _by_group: the 4-channel groups of an image row */
typedef void (*th_dwp_fill4_fn)(const th_conv_args *a, int32_t width, const int8_t *src, int16_t *row, int pads,
                                uint32_t offsets);
#if !TINYHIL_USE_DSP
#define th_dwp_fill_by_pair NULL /* one column at a time, whatever the variant */
#define th_dwp_fill_by_group NULL
#endif


/* Input row src (NULL: above / below the image) into a ring slot: per channel, its columns with the input
 * offset added, 0 in the padding. With the DSP, 4 channels at a time, a word (two columns) per store: the
 * padding's pairs 0, the image's pairs from two pixel words widened by SXTAB16 and paired by column
 * (PKHBT / PKHTB), and an odd first / last image column with a zero partner. The padding columns are 0
 * from the slot's first fill on (a row outside the image zeroes all of it), so only that fill writes them.
 * Returns the slot's new state. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns"))) /* 1-2 padding words: shorter than a memset call */
#endif
static uint8_t th_dwp_fill(const th_conv_args *a, int32_t width, const int8_t *src, int16_t *row, uint8_t state,
                           th_dwp_fill4_fn fill4) {
    const int32_t in_c = a->in_c, first = a->pad_w;
    const int32_t last = th_min_i32(width, a->pad_w + a->in_w); /* image columns [first, last) */
    const int32_t offset = a->input_offset;
    if (src == NULL || last <= first) {
        if (state != TH_DWP_ZERO) {
            uint32_t *w = (uint32_t *)(void *)row, *end = w + (size_t)in_c * (width >> 1);
            for (; w + 2 <= end; w += 2) {
                w[0] = 0, w[1] = 0;
            }
            if (w < end) { /* an odd number of words (odd channels times an odd number of column pairs) */
                *w = 0;
            }
        }
        return TH_DWP_ZERO;
    }
    const int pads = state == TH_DWP_EMPTY; /* else they are 0 already (an image row or all zero before) */
    int32_t c = 0;
#if TINYHIL_USE_DSP
    const uint32_t offsets = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    const int32_t groups = in_c >> 2;
    fill4(a, width, src, row, pads, offsets); /* by pair where groups > pairs, else by group (the variant) */
    c = 4 * groups;
#endif
    for (; c < in_c; ++c) { /* a tail of 1-3 channels (or every channel without the DSP): one column at a time */
        int16_t *r = row + (size_t)c * width;
        for (int32_t col = 0; col < width; ++col) {
            r[col] = (int16_t)(col >= first && col < last ? src[(size_t)(col - first) * in_c + c] + offset : 0);
        }
    }
    (void)pads, (void)fill4;
    return TH_DWP_IMAGE;
}

/* The weight of tap (ky, kx) of channel c in the host's pair layout (the portable path reads the same array) */
static int32_t th_dwp_weight(const th_conv_args *a, int32_t c, int32_t ky, int32_t kx) {
    const int32_t words = th_dwp_row_words(a);
    const int16_t *w = (const int16_t *)(const void *)th_dwp_record(a, c) + (size_t)ky * words * 2;
    if (a->stride_w == 2) {
        return w[kx];
    }
    const int32_t m = (a->k_w | 1) / 2;
    if (m == 0) {
        return w[0];
    }
    return kx < 2 * m ? w[kx] : w[4 * m - 1]; /* w[2m]: the top half of O_m, the last word */
}

/* The record's requantisation as TFLite's MultiplyByQuantizedMultiplier: e = 0, {m, shift}; else {2m - 2^32, K}
 * with the right shift e (the file comment) */
static int8_t th_dwp_output(const th_conv_args *a, int32_t acc, int32_t c) {
    return th_dw_record_output(a, th_dwp_record(a, c) + a->k_h * th_dwp_row_words(a), acc);
}

/* Plain C: any shape this kernel takes, one output at a time. */
#if TINYHIL_USE_DSP && defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("Os"))) /* on a DSP core only the requantisation without a fast table: small, not fast */
#endif
static void th_dwp_row_portable(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                                int32_t first, int32_t count) {
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        for (int32_t c = first; c < first + count; ++c) {
            int32_t acc = th_dwp_record(a, c)[a->k_h * th_dwp_row_words(a)]; /* the bias */
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                const int16_t *x = rows[ky] + (size_t)(c - first) * width + (size_t)ox * a->stride_w;
                for (int32_t kx = 0; kx < a->k_w; ++kx) {
                    acc += x[kx] * th_dwp_weight(a, c, ky, kx);
                }
            }
            out_row[(size_t)ox * a->out_c + c] = th_dwp_output(a, acc, c);
        }
    }
}

#if TINYHIL_USE_DSP
/* acc + lo16(a) * hi16(b), acc + hi16(a) * lo16(b): GCC emits SMLABT / SMLATB for these */
static inline int32_t th_dwp_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)a * ((int32_t)b >> 16)));
}
static inline int32_t th_dwp_smlatb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(((int32_t)a >> 16) * (int32_t)(int16_t)b));
}


/* One channel's outputs ox and ox + 1 over the k_h rows at word p[ky] (their column ox * stride). */
static inline __attribute__((always_inline)) void th_dwp_step(const uint32_t *const *p, const uint32_t *w, int32_t k_h,
                                                             int32_t stride, int32_t m, int32_t words, int32_t *s0,
                                                             int32_t *s1) {
    int32_t acc0 = *s0, acc1 = *s1;
    for (int32_t ky = 0; ky < k_h; ++ky, w += words) {
        const uint32_t *x = p[ky];
        if (stride == 2) {
            for (int32_t i = 0; i < words; ++i) {
                acc0 = th_smlad(x[i], w[i], acc0);
                acc1 = th_smlad(x[i + 1], w[i], acc1);
            }
        } else if (m == 0) {
            acc0 = th_dwp_smlabt(x[0], w[0], acc0);
            acc1 = th_dwp_smlatb(x[0], w[0], acc1);
        } else {
            for (int32_t i = 0; i < m; ++i) {
                acc0 = th_smlad(x[i], w[i], acc0);
            }
            acc0 = th_dwp_smlabt(x[m], w[2 * m - 1], acc0);
            acc1 = th_dwp_smlatb(x[0], w[0], acc1);
            for (int32_t i = 1; i <= m; ++i) {
                acc1 = th_smlad(x[i], w[m + i - 1], acc1);
            }
        }
    }
    *s0 = acc0, *s1 = acc1;
}

#if TINYHIL_DSP_ASM
/* Requantise s0 and s1 (mult, K, e from the record at [k, #Q]); the STORE macros below then saturate or
 * clamp them and store them at [y] and [y, out_c], y += 2 out_c. Clobbers the temporaries. */
#define TH_DWP_ASM_REQUANT2(Q)                               \
    "ldrd   %[ta], %[tb], [%[k], #" #Q " + 4]\n\t"         \
    "ldr    %[wa], [%[k], #" #Q " + 12]\n\t"               \
    "smmlar %[s0], %[s0], %[ta], %[s0]\n\t"                 \
    "smmlar %[s1], %[s1], %[ta], %[s1]\n\t"                 \
    "add    %[s0], %[s0], %[s0], asr #31\n\t"               \
    "add    %[s1], %[s1], %[s1], asr #31\n\t"               \
    "qadd   %[s0], %[s0], %[tb]\n\t"                        \
    "qadd   %[s1], %[s1], %[tb]\n\t"                        \
    "asr    %[s0], %[s0], %[wa]\n\t"                        \
    "asr    %[s1], %[s1], %[wa]\n\t"
/* the odd last pixel: s0 only */
#define TH_DWP_ASM_REQUANT1(Q)                               \
    "ldrd   %[ta], %[tb], [%[k], #" #Q " + 4]\n\t"         \
    "ldr    %[wa], [%[k], #" #Q " + 12]\n\t"               \
    "smmlar %[s0], %[s0], %[ta], %[s0]\n\t"                 \
    "add    %[s0], %[s0], %[s0], asr #31\n\t"               \
    "qadd   %[s0], %[s0], %[tb]\n\t"                        \
    "asr    %[s0], %[s0], %[wa]\n\t"
#define TH_DWP_ASM_PUT2                                      \
    "strb   %[s0], [%[y]]\n\t"                              \
    "strb   %[s1], [%[y], %[oc]]\n\t"                       \
    "add    %[y], %[y], %[oc], lsl #1\n\t"
#define TH_DWP_ASM_STORE2(Q)                                 \
    TH_DWP_ASM_REQUANT2(Q)                                   \
    "ssat   %[s0], #8, %[s0]\n\t"                           \
    "ssat   %[s1], #8, %[s1]\n\t"                           \
    TH_DWP_ASM_PUT2
#define TH_DWP_ASM_STORE1(Q)                                 \
    TH_DWP_ASM_REQUANT1(Q)                                   \
    "ssat   %[s0], #8, %[s0]\n\t"                           \
    "strb   %[s0], [%[y]]\n\t"
/* With an activation clamp: the record's e word also holds the bounds (bytes 1 and 2, signed), which replace
 * SSAT (they lie inside int8) */
#define TH_DWP_ASM_CLAMP(S)                                  \
    "cmp    %[" S "], %[tb]\n\t"                           \
    "it     lt\n\t"                                        \
    "movlt  %[" S "], %[tb]\n\t"                           \
    "cmp    %[" S "], %[wa]\n\t"                           \
    "it     gt\n\t"                                        \
    "movgt  %[" S "], %[wa]\n\t"
#define TH_DWP_ASM_BOUNDS                                    \
    "sxtb   %[tb], %[wa], ror #8\n\t"                       \
    "sxtb   %[wa], %[wa], ror #16\n\t"
#define TH_DWP_ASM_STORE2_CLAMP(Q)                           \
    TH_DWP_ASM_REQUANT2(Q) TH_DWP_ASM_BOUNDS                 \
    TH_DWP_ASM_CLAMP("s0") TH_DWP_ASM_CLAMP("s1")            \
    TH_DWP_ASM_PUT2
#define TH_DWP_ASM_STORE1_CLAMP(Q)                           \
    TH_DWP_ASM_REQUANT1(Q) TH_DWP_ASM_BOUNDS                 \
    TH_DWP_ASM_CLAMP("s0")                                   \
    "strb   %[s0], [%[y]]\n\t"
/* n = out_w: pairs while two or more pixels are left, then (flags of the last SUBS: zero) the odd one */
#define TH_DWP_ASM_LOOP(BODY, STORE2, STORE1, Q) \
    "subs   %[n], %[n], #1\n\t"           \
    "ble    2f\n\t"                       \
    "1:\n\t" BODY STORE2(Q)               \
    "subs   %[n], %[n], #2\n\t"           \
    "bgt    1b\n\t"                       \
    "2:\n\t"                              \
    "bne    3f\n\t" BODY STORE1(Q) "3:"
#define TH_DWP_ASM_OPERANDS                                                                                     \
    : [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [y] "+r"(y), [n] "+r"(n), [s0] "=&r"(s0), [s1] "=&r"(s1), \
      [ta] "=&r"(ta), [tb] "=&r"(tb), [wa] "=&r"(wa), [wb] "=&r"(wb)                                          \
    : [k] "r"(k), [oc] "r"(out_c)                                                                            \
    : "cc", "memory"

/* 3x3, stride 1: per step and row one LDRD of (P0, P1) (post-incremented one word: the next step's P0 is this
 * P1) and one of (E0, O1); the bias (record word 6) starts both sums. */
#define TH_DWP_3X3_S1_ROW(P, W, A0)                          \
    "ldrd   %[ta], %[tb], [%[" P "]], #4\n\t"              \
    "ldrd   %[wa], %[wb], [%[k], #" W "]\n\t"              \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlatb %[s1], %[ta], %[wa], %[s1]\n\t"                 \
    "smlabt %[s0], %[tb], %[wb], %[s0]\n\t"                 \
    "smlad  %[s1], %[tb], %[wb], %[s1]\n\t"
#define TH_DWP_3X3_S1                                        \
    "ldr    %[s1], [%[k], #24]\n\t"                        \
    TH_DWP_3X3_S1_ROW("p0", "0", "s1") TH_DWP_3X3_S1_ROW("p1", "8", "s0") TH_DWP_3X3_S1_ROW("p2", "16", "s0")

/* 3x3, stride 2: per step and row (P0, P1) by one LDRD post-incremented two words, P2 by one LDR, and one
 * LDRD of (F0, F1) (F1's top weight is 0). */
#define TH_DWP_3X3_S2_ROW(P, W, A0)                          \
    "ldrd   %[ta], %[tb], [%[" P "]], #8\n\t"              \
    "ldrd   %[wa], %[wb], [%[k], #" W "]\n\t"              \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlad  %[s0], %[tb], %[wb], %[s0]\n\t"                 \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "ldr    %[ta], [%[" P "]]\n\t"                          \
    "smlad  %[s1], %[ta], %[wb], %[s1]\n\t"
#define TH_DWP_3X3_S2                                        \
    "ldr    %[s1], [%[k], #24]\n\t"                        \
    TH_DWP_3X3_S2_ROW("p0", "0", "s1") TH_DWP_3X3_S2_ROW("p1", "8", "s0") TH_DWP_3X3_S2_ROW("p2", "16", "s0")

/* One channel's row: out_w pixels from the ring rows p0..p2 (at column 0), record k, to y (stride out_c). */
#define TH_DWP_RUN(NAME, BODY, STORE2, STORE1) TH_DWP_RUN_AT(NAME, BODY, STORE2, STORE1, 24)
#define TH_DWP_RUN_AT(NAME, BODY, STORE2, STORE1, Q)                                                            \
    static __attribute__((noinline)) void NAME(const uint32_t *p0, const uint32_t *p1, const uint32_t *p2,      \
                                               const int32_t *k, int8_t *y, int32_t n, int32_t out_c) {         \
        int32_t s0, s1;                                                                                       \
        uint32_t ta, tb, wa, wb;                                                                              \
        __asm__ volatile(TH_DWP_ASM_LOOP(BODY, STORE2, STORE1, Q) TH_DWP_ASM_OPERANDS);                       \
    }
TH_DWP_RUN(th_dwp_run_3x3_s1, TH_DWP_3X3_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1)
TH_DWP_RUN(th_dwp_run_3x3_s2, TH_DWP_3X3_S2, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1)
TH_DWP_RUN(th_dwp_run_3x3_s1_clamp, TH_DWP_3X3_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP)
TH_DWP_RUN(th_dwp_run_3x3_s2_clamp, TH_DWP_3X3_S2, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP)

/* 1x3, stride 1: the 3x3 stride-1 row once (record: E0, O1, then bias at word 2) */
#define TH_DWP_1X3_S1 "ldr    %[s1], [%[k], #8]\n\t" TH_DWP_3X3_S1_ROW("p0", "0", "s1")
TH_DWP_RUN_AT(th_dwp_run_1x3_s1, TH_DWP_1X3_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 8)
TH_DWP_RUN_AT(th_dwp_run_1x3_s1_clamp, TH_DWP_1X3_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 8)

/* k x 1, stride 1: per step and row one word P0 = (x[ox], x[ox + 1]) (post-incremented one word) and the row's
 * word (w, w): out0 += x[ox] * w (SMLABB), out1 += x[ox + 1] * w (SMLATB); the bias after the k_h words. */
#define TH_DWP_KX1_ROW(P, W, A0)                              \
    "ldr    %[ta], [%[" P "]], #4\n\t"                       \
    "ldr    %[wa], [%[k], #" W "]\n\t"                       \
    "smlabb %[s0], %[ta], %[wa], %[" A0 "]\n\t"              \
    "smlatb %[s1], %[ta], %[wa], %[s1]\n\t"
#define TH_DWP_3X1_S1                                         \
    "ldr    %[s1], [%[k], #12]\n\t"                          \
    TH_DWP_KX1_ROW("p0", "0", "s1") TH_DWP_KX1_ROW("p1", "4", "s0") TH_DWP_KX1_ROW("p2", "8", "s0")
TH_DWP_RUN_AT(th_dwp_run_3x1_s1, TH_DWP_3X1_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 12)
TH_DWP_RUN_AT(th_dwp_run_3x1_s1_clamp, TH_DWP_3X1_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 12)

/* 5x1, stride 1: five row pointers, so no second weight register (every register is an operand) */
#define TH_DWP_5X1_S1                                                                                   \
    "ldr    %[s1], [%[k], #20]\n\t"                                                                    \
    TH_DWP_KX1_ROW("p0", "0", "s1") TH_DWP_KX1_ROW("p1", "4", "s0") TH_DWP_KX1_ROW("p2", "8", "s0")     \
    TH_DWP_KX1_ROW("p3", "12", "s0") TH_DWP_KX1_ROW("p4", "16", "s0")

/* 5x5, stride 1: per step and row (P0, P1) by one LDRD post-incremented one word (the next step's P0 is this
 * P1), P2 by one LDR, and the row's words E0, E1, O1, O2 (at W .. W + 12) by LDR, LDRD, LDR, three
 * registers being all the five row pointers leave: 11 instructions for 10 MACs; the bias at record word 20. */
#define TH_DWP_5X5_S1_ROW(P, W, W4, W12, A0)                 \
    "ldrd   %[ta], %[tb], [%[" P "]], #4\n\t"              \
    "ldr    %[wa], [%[k], #" W "]\n\t"                     \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlatb %[s1], %[ta], %[wa], %[s1]\n\t"                 \
    "ldrd   %[ta], %[wa], [%[k], #" W4 "]\n\t"             \
    "smlad  %[s0], %[tb], %[ta], %[s0]\n\t"                 \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "ldr    %[ta], [%[" P "], #4]\n\t"                      \
    "ldr    %[wa], [%[k], #" W12 "]\n\t"                    \
    "smlabt %[s0], %[ta], %[wa], %[s0]\n\t"                 \
    "smlad  %[s1], %[ta], %[wa], %[s1]\n\t"
#define TH_DWP_5X5_S1                                                                                         \
    "ldr    %[s1], [%[k], #80]\n\t"                                                                          \
    TH_DWP_5X5_S1_ROW("p0", "0", "4", "12", "s1") TH_DWP_5X5_S1_ROW("p1", "16", "20", "28", "s0")              \
    TH_DWP_5X5_S1_ROW("p2", "32", "36", "44", "s0") TH_DWP_5X5_S1_ROW("p3", "48", "52", "60", "s0")            \
    TH_DWP_5X5_S1_ROW("p4", "64", "68", "76", "s0")

/* 5x5, stride 2: per step and row (P0, P1) by one LDRD post-incremented two words, P2 and P3 by LDR, and the
 * row's words F0, F1, F2 (F2's top weight is 0; at W .. W + 8) by LDR and LDRD: 11 instructions for 10 MACs;
 * the bias at record word 15. */
#define TH_DWP_5X5_S2_ROW(P, W, W4, A0)                      \
    "ldrd   %[ta], %[tb], [%[" P "]], #8\n\t"              \
    "ldr    %[wa], [%[k], #" W "]\n\t"                     \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "ldrd   %[ta], %[wa], [%[k], #" W4 "]\n\t"             \
    "smlad  %[s0], %[tb], %[ta], %[s0]\n\t"                 \
    "ldr    %[tb], [%[" P "]]\n\t"                          \
    "smlad  %[s1], %[tb], %[ta], %[s1]\n\t"                 \
    "smlad  %[s0], %[tb], %[wa], %[s0]\n\t"                 \
    "ldr    %[tb], [%[" P "], #4]\n\t"                      \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"
#define TH_DWP_5X5_S2                                                                                         \
    "ldr    %[s1], [%[k], #60]\n\t"                                                                          \
    TH_DWP_5X5_S2_ROW("p0", "0", "4", "s1") TH_DWP_5X5_S2_ROW("p1", "12", "16", "s0")                          \
    TH_DWP_5X5_S2_ROW("p2", "24", "28", "s0") TH_DWP_5X5_S2_ROW("p3", "36", "40", "s0")                        \
    TH_DWP_5X5_S2_ROW("p4", "48", "52", "s0")

/* The loops over five ring rows (5x1, 5x5): their row pointers passed as an array, as every register is an
 * operand; Q: the record's bias offset in bytes */
#define TH_DWP_RUN5(NAME, BODY, STORE2, STORE1, Q)                                                           \
    static __attribute__((noinline)) void NAME(const uint32_t *const *p, const int32_t *k, int8_t *y, int32_t n, \
                                               int32_t out_c) {                                             \
        const uint32_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4];                          \
        int32_t s0, s1;                                                                                     \
        uint32_t ta, tb, wa;                                                                                \
        __asm__ volatile(TH_DWP_ASM_LOOP(BODY, STORE2, STORE1, Q)                                           \
                         : [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [p3] "+r"(p3), [p4] "+r"(p4),          \
                           [y] "+r"(y), [n] "+r"(n), [s0] "=&r"(s0), [s1] "=&r"(s1), [ta] "=&r"(ta),           \
                           [tb] "=&r"(tb), [wa] "=&r"(wa)                                                    \
                         : [k] "r"(k), [oc] "r"(out_c)                                                      \
                         : "cc", "memory");                                                                 \
    }
TH_DWP_RUN5(th_dwp_run_5x1_s1, TH_DWP_5X1_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 20)
TH_DWP_RUN5(th_dwp_run_5x1_s1_clamp, TH_DWP_5X1_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 20)
TH_DWP_RUN5(th_dwp_run_5x5_s1, TH_DWP_5X5_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 80)
TH_DWP_RUN5(th_dwp_run_5x5_s1_clamp, TH_DWP_5X5_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 80)
TH_DWP_RUN5(th_dwp_run_5x5_s2, TH_DWP_5X5_S2, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 60)
TH_DWP_RUN5(th_dwp_run_5x5_s2_clamp, TH_DWP_5X5_S2, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 60)

/* 7x7: seven row pointers and the loop's registers leave too few for the taps, so the row pointers stay in memory
 * (at [q]: the channel's planes) and each row loads its own, plus the step's column offset (c: words from the
 * row's start). Stride 1, per row: (P0, P1) and (P2, P3) by LDRD, E0 .. E2 and O1 .. O3 (at W .. W + 20) by
 * three LDRD: 15 instructions for 14 MACs; the bias at record word 42. */
#define TH_DWP_7X7_S1_ROW(R, W, W8, W16, A0)                 \
    "ldr    %[r], [%[q], #" R "]\n\t"                       \
    "add    %[r], %[r], %[c]\n\t"                           \
    "ldrd   %[ta], %[tb], [%[r]]\n\t"                       \
    "ldrd   %[wa], %[wb], [%[k], #" W "]\n\t"              \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlatb %[s1], %[ta], %[wa], %[s1]\n\t"                 \
    "smlad  %[s0], %[tb], %[wb], %[s0]\n\t"                 \
    "ldrd   %[ta], %[wa], [%[k], #" W8 "]\n\t"             \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "ldrd   %[tb], %[wb], [%[r], #8]\n\t"                   \
    "smlad  %[s0], %[tb], %[ta], %[s0]\n\t"                 \
    "ldrd   %[ta], %[wa], [%[k], #" W16 "]\n\t"            \
    "smlad  %[s1], %[tb], %[ta], %[s1]\n\t"                 \
    "smlabt %[s0], %[wb], %[wa], %[s0]\n\t"                 \
    "smlad  %[s1], %[wb], %[wa], %[s1]\n\t"
#define TH_DWP_7X7_S1                                                                                         \
    "ldr    %[s1], [%[k], #168]\n\t"                                                                         \
    TH_DWP_7X7_S1_ROW("0", "0", "8", "16", "s1") \
    TH_DWP_7X7_S1_ROW("4", "24", "32", "40", "s0") \
    TH_DWP_7X7_S1_ROW("8", "48", "56", "64", "s0") \
    TH_DWP_7X7_S1_ROW("12", "72", "80", "88", "s0") \
    TH_DWP_7X7_S1_ROW("16", "96", "104", "112", "s0") \
    TH_DWP_7X7_S1_ROW("20", "120", "128", "136", "s0") \
    TH_DWP_7X7_S1_ROW("24", "144", "152", "160", "s0")                                                                                                 \
    "add    %[c], %[c], #4\n\t"

/* 7x7, stride 2, per row: (P0, P1), (P2, P3) by LDRD, P4 by LDR, F0 .. F3 (F3's top weight is 0; at W .. W + 12)
 * by two LDRD: 15 instructions for 14 MACs; the bias at record word 28. */
#define TH_DWP_7X7_S2_ROW(R, W, W8, A0)                      \
    "ldr    %[r], [%[q], #" R "]\n\t"                       \
    "add    %[r], %[r], %[c]\n\t"                           \
    "ldrd   %[ta], %[tb], [%[r]]\n\t"                       \
    "ldrd   %[wa], %[wb], [%[k], #" W "]\n\t"              \
    "smlad  %[s0], %[ta], %[wa], %[" A0 "]\n\t"            \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "smlad  %[s0], %[tb], %[wb], %[s0]\n\t"                 \
    "ldrd   %[ta], %[tb], [%[r], #8]\n\t"                   \
    "smlad  %[s1], %[ta], %[wb], %[s1]\n\t"                 \
    "ldrd   %[wa], %[wb], [%[k], #" W8 "]\n\t"             \
    "smlad  %[s0], %[ta], %[wa], %[s0]\n\t"                 \
    "smlad  %[s1], %[tb], %[wa], %[s1]\n\t"                 \
    "smlad  %[s0], %[tb], %[wb], %[s0]\n\t"                 \
    "ldr    %[ta], [%[r], #16]\n\t"                         \
    "smlad  %[s1], %[ta], %[wb], %[s1]\n\t"
#define TH_DWP_7X7_S2                                                                                         \
    "ldr    %[s1], [%[k], #112]\n\t"                                                                         \
    TH_DWP_7X7_S2_ROW("0", "0", "8", "s1") \
    TH_DWP_7X7_S2_ROW("4", "16", "24", "s0") \
    TH_DWP_7X7_S2_ROW("8", "32", "40", "s0") \
    TH_DWP_7X7_S2_ROW("12", "48", "56", "s0") \
    TH_DWP_7X7_S2_ROW("16", "64", "72", "s0") \
    TH_DWP_7X7_S2_ROW("20", "80", "88", "s0") \
    TH_DWP_7X7_S2_ROW("24", "96", "104", "s0")                                                                                                 \
    "add    %[c], %[c], #8\n\t"

/* The 7x7 loops: q, the channel's seven row pointers; Q: the record's bias offset in bytes */
#define TH_DWP_RUN7(NAME, BODY, STORE2, STORE1, Q)                                                           \
    static __attribute__((noinline)) void NAME(const uint32_t *const *q, const int32_t *k, int8_t *y, int32_t n, \
                                               int32_t out_c) {                                             \
        int32_t s0, s1, c = 0;                                                                              \
        uint32_t ta, tb, wa, wb;                                                                            \
        const uint32_t *r;                                                                                  \
        __asm__ volatile(TH_DWP_ASM_LOOP(BODY, STORE2, STORE1, Q)                                           \
                         : [r] "=&r"(r), [c] "+r"(c), [y] "+r"(y), [n] "+r"(n), [s0] "=&r"(s0), [s1] "=&r"(s1), \
                           [ta] "=&r"(ta), [tb] "=&r"(tb), [wa] "=&r"(wa), [wb] "=&r"(wb)                    \
                         : [q] "r"(q), [k] "r"(k), [oc] "r"(out_c)                                          \
                         : "cc", "memory");                                                                 \
    }
TH_DWP_RUN7(th_dwp_run_7x7_s1, TH_DWP_7X7_S1, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 168)
TH_DWP_RUN7(th_dwp_run_7x7_s1_clamp, TH_DWP_7X7_S1, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 168)
TH_DWP_RUN7(th_dwp_run_7x7_s2, TH_DWP_7X7_S2, TH_DWP_ASM_STORE2, TH_DWP_ASM_STORE1, 112)
TH_DWP_RUN7(th_dwp_run_7x7_s2_clamp, TH_DWP_7X7_S2, TH_DWP_ASM_STORE2_CLAMP, TH_DWP_ASM_STORE1_CLAMP, 112)
#endif

#if !TINYHIL_DSP_ASM
/* One row of channels [first, first + count) (rows[ky]: channel first's plane), channel by channel (each channel's
 * record, its weights and requantisation, read along the row), two output pixels per step: any window this kernel
 * takes, the shape in registers; the C model of the hand-scheduled loops (the host's DSP-emulated build runs it). */
static void th_dwp_row_steps(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                             int32_t first, int32_t count) {
    const int32_t out_w = a->out_w, lo = a->act_min, hi = a->act_max;
    const int32_t k_h = a->k_h, stride = a->stride_w, m = (a->k_w | 1) / 2, words = th_dwp_row_words(a);
    const size_t out_step = (size_t)a->in_c;
    for (int32_t c = first; c < first + count; ++c) {
        const uint32_t *p[TH_DEPTHWISE_MAX_KERNEL_H];
        for (int32_t ky = 0; ky < k_h; ++ky) {
            p[ky] = (const uint32_t *)(const void *)(rows[ky] + (size_t)(c - first) * width);
        }
        const int32_t *k = th_dwp_record(a, c);
        const uint32_t *w = (const uint32_t *)(const void *)k;
        const int32_t *q = k + k_h * words; /* bias, mult, K, e */
        int8_t *y = out_row + c;
        for (int32_t ox = 0; ox < out_w; ox += 2, y += 2 * out_step) {
            int32_t s0 = q[0], s1 = q[0];
            th_dwp_step(p, w, k_h, stride, m, words, &s0, &s1);
            for (int32_t ky = 0; ky < k_h; ++ky) {
                p[ky] += stride;
            }
            y[0] = th_dwp_out(s0, q, 1, lo, hi);
            if (ox + 1 < out_w) { /* else the partner of an odd last pixel, from the ring's spare columns */
                y[out_step] = th_dwp_out(s1, q, 1, lo, hi);
            }
        }
    }
}

#endif

#endif

/* A row function: channels [first, first + count) of one output row from the k_h ring rows (rows[ky]: channel
 * first's plane). The code generator names the kernel variant, so each firmware links only the rows its layers
 * run (lower.depthwise_pairs_kernel). */
typedef void (*th_dwp_row_fn)(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                              int32_t first, int32_t count);

#if TINYHIL_DSP_ASM
typedef void (*th_dwp_run_fn)(const uint32_t *, const uint32_t *, const uint32_t *, const int32_t *, int8_t *, int32_t,
                              int32_t);
/* The hand-scheduled loop run over each channel's row (3x3 records, stride 1 or 2) */
static inline __attribute__((always_inline)) void th_dwp_row_runs(const th_conv_args *a, int32_t width,
                                                                  const int16_t *const *rows, int8_t *out_row,
                                                                  int32_t first, int32_t count, th_dwp_run_fn run) {
    const uint32_t *p0 = (const uint32_t *)(const void *)rows[0];
    const uint32_t *p1 = (const uint32_t *)(const void *)rows[a->k_h > 1 ? 1 : 0]; /* 1 x k: p0 alone is read */
    const uint32_t *p2 = (const uint32_t *)(const void *)rows[a->k_h > 2 ? 2 : 0];
    const int32_t *k = th_dwp_record(a, first), words = width >> 1, channels = a->in_c;
    const int32_t record = a->k_h * th_dwp_row_words(a) + TH_DWP_PARAMS; /* words of a channel's record */
    const int32_t out_w = a->out_w;
    int8_t *y = out_row + first, *end = y + count;
    for (; y < end; ++y, p0 += words, p1 += words, p2 += words, k += record) {
        run(p0, p1, p2, k, y, out_w, channels);
    }
}
#define TH_DWP_ROW(NAME, RUN)                                                                                  \
    static void NAME(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,        \
                     int32_t first, int32_t count) {                                                           \
        th_dwp_row_runs(a, width, rows, out_row, first, count, RUN);                                          \
    }
TH_DWP_ROW(th_dwp_row_3x3_s1, th_dwp_run_3x3_s1)
TH_DWP_ROW(th_dwp_row_3x3_s2, th_dwp_run_3x3_s2)
TH_DWP_ROW(th_dwp_row_3x3_s1_clamp, th_dwp_run_3x3_s1_clamp)
TH_DWP_ROW(th_dwp_row_3x3_s2_clamp, th_dwp_run_3x3_s2_clamp)
TH_DWP_ROW(th_dwp_row_1x3_s1, th_dwp_run_1x3_s1)
TH_DWP_ROW(th_dwp_row_1x3_s1_clamp, th_dwp_run_1x3_s1_clamp)
TH_DWP_ROW(th_dwp_row_3x1_s1, th_dwp_run_3x1_s1)
TH_DWP_ROW(th_dwp_row_3x1_s1_clamp, th_dwp_run_3x1_s1_clamp)
typedef void (*th_dwp_run_array_fn)(const uint32_t *const *, const int32_t *, int8_t *, int32_t, int32_t);
/* th_dwp_row_runs for the loops that take their k_h row pointers as an array (5x1, 5x5, 7x7) */
static __attribute__((noinline)) void th_dwp_row_runs_array(const th_conv_args *a, int32_t width,
                                                            const int16_t *const *rows, int8_t *out_row,
                                                            int32_t first, int32_t count, th_dwp_run_array_fn run) {
    const uint32_t *p[TH_DEPTHWISE_MAX_KERNEL_H];
    const int32_t k_h = a->k_h;
    for (int32_t ky = 0; ky < k_h; ++ky) {
        p[ky] = (const uint32_t *)(const void *)rows[ky];
    }
    const int32_t *k = th_dwp_record(a, first), words = width >> 1, channels = a->in_c;
    const int32_t record = k_h * th_dwp_row_words(a) + TH_DWP_PARAMS; /* words of a channel's record */
    const int32_t out_w = a->out_w;
    for (int32_t c = first; c < first + count; ++c, k += record) {
        run(p, k, out_row + c, out_w, channels);
        for (int32_t ky = 0; ky < k_h; ++ky) {
            p[ky] += words;
        }
    }
}
#define TH_DWP_ROW_ARRAY(NAME, RUN)                                                                            \
    static void NAME(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,        \
                     int32_t first, int32_t count) {                                                           \
        th_dwp_row_runs_array(a, width, rows, out_row, first, count, RUN);                                    \
    }
TH_DWP_ROW_ARRAY(th_dwp_row_5x1_s1, th_dwp_run_5x1_s1)
TH_DWP_ROW_ARRAY(th_dwp_row_5x1_s1_clamp, th_dwp_run_5x1_s1_clamp)
TH_DWP_ROW_ARRAY(th_dwp_row_5x5_s1, th_dwp_run_5x5_s1)
TH_DWP_ROW_ARRAY(th_dwp_row_5x5_s1_clamp, th_dwp_run_5x5_s1_clamp)
TH_DWP_ROW_ARRAY(th_dwp_row_5x5_s2, th_dwp_run_5x5_s2)
TH_DWP_ROW_ARRAY(th_dwp_row_5x5_s2_clamp, th_dwp_run_5x5_s2_clamp)
TH_DWP_ROW_ARRAY(th_dwp_row_7x7_s1, th_dwp_run_7x7_s1)
TH_DWP_ROW_ARRAY(th_dwp_row_7x7_s1_clamp, th_dwp_run_7x7_s1_clamp)
TH_DWP_ROW_ARRAY(th_dwp_row_7x7_s2, th_dwp_run_7x7_s2)
TH_DWP_ROW_ARRAY(th_dwp_row_7x7_s2_clamp, th_dwp_run_7x7_s2_clamp)
#elif TINYHIL_USE_DSP
/* the C model of the hand-scheduled loops, for every variant (the host's DSP-emulated build) */
#define th_dwp_row_model th_dwp_row_steps
#define th_dwp_row_3x3_s1 th_dwp_row_model
#define th_dwp_row_3x3_s2 th_dwp_row_model
#define th_dwp_row_3x3_s1_clamp th_dwp_row_model
#define th_dwp_row_3x3_s2_clamp th_dwp_row_model
#define th_dwp_row_1x3_s1 th_dwp_row_model
#define th_dwp_row_1x3_s1_clamp th_dwp_row_model
#define th_dwp_row_3x1_s1 th_dwp_row_model
#define th_dwp_row_3x1_s1_clamp th_dwp_row_model
#define th_dwp_row_5x1_s1 th_dwp_row_model
#define th_dwp_row_5x1_s1_clamp th_dwp_row_model
#define th_dwp_row_5x5_s1 th_dwp_row_model
#define th_dwp_row_5x5_s1_clamp th_dwp_row_model
#define th_dwp_row_5x5_s2 th_dwp_row_model
#define th_dwp_row_5x5_s2_clamp th_dwp_row_model
#define th_dwp_row_7x7_s1 th_dwp_row_model
#define th_dwp_row_7x7_s1_clamp th_dwp_row_model
#define th_dwp_row_7x7_s2 th_dwp_row_model
#define th_dwp_row_7x7_s2_clamp th_dwp_row_model
#else
#define th_dwp_row_3x3_s1 th_dwp_row_portable
#define th_dwp_row_3x3_s2 th_dwp_row_portable
#define th_dwp_row_3x3_s1_clamp th_dwp_row_portable
#define th_dwp_row_3x3_s2_clamp th_dwp_row_portable
#define th_dwp_row_1x3_s1 th_dwp_row_portable
#define th_dwp_row_1x3_s1_clamp th_dwp_row_portable
#define th_dwp_row_3x1_s1 th_dwp_row_portable
#define th_dwp_row_3x1_s1_clamp th_dwp_row_portable
#define th_dwp_row_5x1_s1 th_dwp_row_portable
#define th_dwp_row_5x1_s1_clamp th_dwp_row_portable
#define th_dwp_row_5x5_s1 th_dwp_row_portable
#define th_dwp_row_5x5_s1_clamp th_dwp_row_portable
#define th_dwp_row_5x5_s2 th_dwp_row_portable
#define th_dwp_row_5x5_s2_clamp th_dwp_row_portable
#define th_dwp_row_7x7_s1 th_dwp_row_portable
#define th_dwp_row_7x7_s1_clamp th_dwp_row_portable
#define th_dwp_row_7x7_s2 th_dwp_row_portable
#define th_dwp_row_7x7_s2_clamp th_dwp_row_portable
#endif

/* tinyhil_depthwise.h: as th_dwp_fill_by_group, two pixel words -> 4 channels' column pairs per step */
TH_DWP_NO_MEMSET void th_dwp_widen(const int8_t *src, int32_t stride, int32_t columns, int32_t count, int32_t offset,
                                   int16_t *planes, int32_t width) {
    int32_t c = 0;
#if TINYHIL_USE_DSP
    const uint32_t offsets = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    const int32_t pairs = columns >> 1, words = width >> 1;
    for (; c + 4 <= count; c += 4) {
        uint32_t *r0 = (uint32_t *)(void *)(planes + (size_t)c * width);
        uint32_t *r1 = r0 + words, *r2 = r1 + words, *r3 = r2 + words;
        const int8_t *x = src + c;
        int32_t i = 0;
        for (; i < pairs; ++i, x += 2 * stride) {
            const uint32_t xa = th_read_s8x4(x), xb = th_read_s8x4(x + stride);
            const uint32_t ae = th_sxtab16(offsets, xa), be = th_sxtab16(offsets, xb);
            const uint32_t ao = th_sxtab16_ror8(offsets, xa), bo = th_sxtab16_ror8(offsets, xb);
            r0[i] = th_dwp_pkhbt(ae, be), r2[i] = th_dwp_pkhtb(be, ae);
            r1[i] = th_dwp_pkhbt(ao, bo), r3[i] = th_dwp_pkhtb(bo, ao);
        }
        if (columns & 1) { /* (x[columns - 1], 0) */
            const uint32_t xl = th_read_s8x4(x);
            const uint32_t e = th_sxtab16(offsets, xl), o = th_sxtab16_ror8(offsets, xl);
            r0[i] = e & 0xFFFFu, r2[i] = e >> 16, r1[i] = o & 0xFFFFu, r3[i] = o >> 16;
            ++i;
        }
        for (; i < words; ++i) {
            r0[i] = 0, r1[i] = 0, r2[i] = 0, r3[i] = 0;
        }
    }
#endif
    for (; c < count; ++c) { /* a tail of 1-3 channels (or every channel without the DSP) */
        int16_t *r = planes + (size_t)c * width;
        for (int32_t col = 0; col < width; ++col) {
            r[col] = (int16_t)(col < columns ? src[(size_t)col * stride + c] + offset : 0);
        }
    }
}

void th_dwp_ring_init(th_dwp_ring *ring, const th_conv_args *a, int8_t *scratch) {
    ring->rows = (int16_t *)(void *)scratch;
    ring->width = th_dwp_ring_width(a);
    _Pragma("GCC unroll 1") /* once a layer: small, not unrolled (flash) */
    for (int32_t slot = 0; slot < TH_DEPTHWISE_MAX_KERNEL_H; ++slot) {
        ring->held[slot] = INT32_MIN;
        ring->state[slot] = TH_DWP_EMPTY;
    }
}

/* The ring fill for a layer's shape, chosen at run time (the fused block's; each kernel variant names its own,
 * lower.pairs_fill_by_pair): pair by pair where the 4-channel groups outnumber the image's column pairs */
static th_dwp_fill4_fn th_dwp_fill_for(const th_conv_args *a, int32_t width) {
    const int32_t first = a->pad_w, last = th_min_i32(width, a->pad_w + a->in_w), pair_first = (first + 1) & ~1;
    const int32_t pairs = last > pair_first ? (last - pair_first) >> 1 : 0;
    return (a->in_c >> 2) > pairs ? th_dwp_fill_by_pair : th_dwp_fill_by_group;
}

void th_dwp_ring_fill(th_dwp_ring *ring, const th_conv_args *a, int32_t slot, int32_t iy, const int8_t *src) {
    ring->held[slot] = iy;
    int16_t *row = th_dwp_slot_row(ring, a, slot);
    if (th_dwp_fill_for(a, ring->width) == th_dwp_fill_by_pair) { /* constant fills: GCC may specialise */
        ring->state[slot] = th_dwp_fill(a, ring->width, src, row, ring->state[slot], th_dwp_fill_by_pair);
    } else {
        ring->state[slot] = th_dwp_fill(a, ring->width, src, row, ring->state[slot], th_dwp_fill_by_group);
    }
}

/* Channels [first, first + count) of one output row for a fused block's depthwise (th_mbconv_args.dw_channels):
 * one function per window, named by the code generator (lower.fused_pairs_channels), so that a firmware links only
 * the loops its blocks run; the stride and the clamp chosen at run time; records without the folded requantisation
 * (e = 0) take the portable row. No table. */
#if TINYHIL_DSP_ASM
static inline __attribute__((always_inline)) int th_dwp_folded(const th_conv_args *a) {
    return (th_dwp_record(a, 0)[a->k_h * th_dwp_row_words(a) + 3] & 0xFF) != 0; /* e = 0: not folded */
}
void th_dwp_channels_3x3(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                         int32_t first, int32_t count) {
    if (!th_dwp_folded(a)) {
        th_dwp_row_portable(a, width, rows, out_row, first, count);
        return;
    }
    const int full = a->act_min == -128 && a->act_max == 127; /* the loop inline: the strips call this often */
    th_dwp_row_runs(a, width, rows, out_row, first, count,
                    a->stride_w == 1 ? (full ? th_dwp_run_3x3_s1 : th_dwp_run_3x3_s1_clamp)
                                     : (full ? th_dwp_run_3x3_s2 : th_dwp_run_3x3_s2_clamp));
}
#define TH_DWP_CHANNELS_ARRAY(WINDOW)                                                                             \
    void th_dwp_channels_##WINDOW(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row, \
                                  int32_t first, int32_t count) {                                                 \
        if (!th_dwp_folded(a)) {                                                                                  \
            th_dwp_row_portable(a, width, rows, out_row, first, count);                                           \
            return;                                                                                               \
        }                                                                                                         \
        const int full = a->act_min == -128 && a->act_max == 127;                                                 \
        th_dwp_row_runs_array(a, width, rows, out_row, first, count,                                              \
                              a->stride_w == 1 ? (full ? th_dwp_run_##WINDOW##_s1 : th_dwp_run_##WINDOW##_s1_clamp)    \
                                               : (full ? th_dwp_run_##WINDOW##_s2 : th_dwp_run_##WINDOW##_s2_clamp));  \
    }
TH_DWP_CHANNELS_ARRAY(5x5)
TH_DWP_CHANNELS_ARRAY(7x7)
#elif TINYHIL_USE_DSP /* the C model of the loops (the host's DSP-emulated build) */
#define TH_DWP_CHANNELS_MODEL(WINDOW)                                                                             \
    void th_dwp_channels_##WINDOW(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row, \
                                  int32_t first, int32_t count) {                                                 \
        const int folded = (th_dwp_record(a, 0)[a->k_h * th_dwp_row_words(a) + 3] & 0xFF) != 0;                   \
        (folded ? th_dwp_row_steps : th_dwp_row_portable)(a, width, rows, out_row, first, count);                 \
    }
TH_DWP_CHANNELS_MODEL(3x3)
TH_DWP_CHANNELS_MODEL(5x5)
TH_DWP_CHANNELS_MODEL(7x7)
#else
#define TH_DWP_CHANNELS_PORTABLE(WINDOW)                                                                          \
    void th_dwp_channels_##WINDOW(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row, \
                                  int32_t first, int32_t count) {                                                 \
        th_dwp_row_portable(a, width, rows, out_row, first, count);                                               \
    }
TH_DWP_CHANNELS_PORTABLE(3x3)
TH_DWP_CHANNELS_PORTABLE(5x5)
TH_DWP_CHANNELS_PORTABLE(7x7)
#endif

void th_dwp_row(const th_conv_args *a, th_dwp_channels_fn channels, int32_t width, const int16_t *const *rows,
                int8_t *out_row) {
    channels(a, width, rows, out_row, 0, a->in_c);
    if (a->table) { /* a folded activation, while the row is still in cache */
        th_table_lookup_s8(a->table, a->out_w * a->out_c, out_row, out_row);
    }
}

/* out_b may be in_b (in place, stride 1 in H): the ring holds every input row an output row needs
 * before that output row overwrites its input row (tinyhil_depthwise.h) */
static __attribute__((optimize("Os"))) void th_dwp_image(const th_conv_args *a, const int8_t *in_b, int8_t *out_b,
                                                          int8_t *scratch, th_dwp_row_fn row_fn, th_dwp_fill4_fn fill4) {
    const int16_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    const size_t out_row_bytes = (size_t)a->out_w * a->out_c;
    th_dwp_ring ring;
    th_dwp_ring_init(&ring, a, scratch);
    for (int32_t oy = 0; oy < a->out_h; ++oy) {
        for (int32_t ky = 0; ky < a->k_h; ++ky) {
            const int32_t iy = oy * a->stride_h - a->pad_h + ky * a->dil_h;
            const int32_t slot = th_dwp_ring_slot(a, iy, ky);
            if (ring.held[slot] != iy) {
                ring.held[slot] = iy;
                ring.state[slot] = th_dwp_fill(a, ring.width, iy < 0 || iy >= a->in_h ? NULL : in_b + (size_t)iy * a->in_w * a->in_c,
                                               th_dwp_slot_row(&ring, a, slot), ring.state[slot], fill4);
            }
            rows[ky] = th_dwp_slot_row(&ring, a, slot);
        }
        int8_t *out_row = out_b + (size_t)oy * out_row_bytes;
        row_fn(a, ring.width, rows, out_row, 0, a->in_c);
        if (a->table) { /* a folded activation, while the row is still in cache */
            th_table_lookup_s8(a->table, a->out_w * a->out_c, out_row, out_row);
        }
    }
}

/* every batch, through one copy of the ring code whichever row the variant runs (in place: output == input,
 * the same shape); -Os, as the rows and the fills are where the time goes (flash) */
static __attribute__((noinline, noclone, optimize("Os"))) void th_dwp_batches(const th_conv_args *a,
                                                                              const int8_t *input, int8_t *output,
                                                                              int8_t *scratch, th_dwp_row_fn row_fn,
                                                                              th_dwp_fill4_fn fill4) {
    const size_t in_bytes = (size_t)a->in_h * a->in_w * a->in_c, out_bytes = (size_t)a->out_h * a->out_w * a->out_c;
    for (int32_t b = 0; b < a->batches; ++b) {
        th_dwp_image(a, input + (size_t)b * in_bytes, output + (size_t)b * out_bytes, scratch, row_fn, fill4);
    }
}

/* The kernel variants (tinyhil_kernels.h), each a row loop and a ring fill (by_pair: column pair by column
 * pair, where 4-channel groups outnumber the pairs; by_group: group by group), so that a firmware links only
 * what its layers run (lower.depthwise_pairs_kernel) */
#define TH_DWP_KERNEL_FILL(VARIANT, ROW, FILL)                                                                \
    void th_depthwise_conv2d_pairs_##VARIANT##_##FILL##_s8(const th_conv_args *a, const int8_t *input,        \
                                                           int8_t *output, int8_t *scratch) {                 \
        th_dwp_batches(a, input, output, scratch, ROW, th_dwp_fill_##FILL);                                   \
    }                                                                                                         \
    void th_depthwise_conv2d_pairs_##VARIANT##_##FILL##_inplace_s8(const th_conv_args *a, int8_t *buffer,     \
                                                                   int8_t *scratch) {                         \
        th_dwp_batches(a, buffer, buffer, scratch, ROW, th_dwp_fill_##FILL);                                  \
    }
#define TH_DWP_KERNEL(VARIANT, ROW) TH_DWP_KERNEL_FILL(VARIANT, ROW, by_pair) TH_DWP_KERNEL_FILL(VARIANT, ROW, by_group)
TH_DWP_KERNEL(portable, th_dwp_row_portable)
TH_DWP_KERNEL(3x3_s1, th_dwp_row_3x3_s1)
TH_DWP_KERNEL(3x3_s2, th_dwp_row_3x3_s2)
TH_DWP_KERNEL(3x3_s1_clamp, th_dwp_row_3x3_s1_clamp)
TH_DWP_KERNEL(3x3_s2_clamp, th_dwp_row_3x3_s2_clamp)
TH_DWP_KERNEL(1x3_s1, th_dwp_row_1x3_s1)
TH_DWP_KERNEL(1x3_s1_clamp, th_dwp_row_1x3_s1_clamp)
TH_DWP_KERNEL(3x1_s1, th_dwp_row_3x1_s1)
TH_DWP_KERNEL(3x1_s1_clamp, th_dwp_row_3x1_s1_clamp)
TH_DWP_KERNEL(5x1_s1, th_dwp_row_5x1_s1)
TH_DWP_KERNEL(5x1_s1_clamp, th_dwp_row_5x1_s1_clamp)
TH_DWP_KERNEL(5x5_s1, th_dwp_row_5x5_s1)
TH_DWP_KERNEL(5x5_s1_clamp, th_dwp_row_5x5_s1_clamp)
TH_DWP_KERNEL(5x5_s2, th_dwp_row_5x5_s2)
TH_DWP_KERNEL(5x5_s2_clamp, th_dwp_row_5x5_s2_clamp)
TH_DWP_KERNEL(7x7_s1, th_dwp_row_7x7_s1)
TH_DWP_KERNEL(7x7_s1_clamp, th_dwp_row_7x7_s1_clamp)
TH_DWP_KERNEL(7x7_s2, th_dwp_row_7x7_s2)
TH_DWP_KERNEL(7x7_s2_clamp, th_dwp_row_7x7_s2_clamp)
