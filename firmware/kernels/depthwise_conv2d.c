/* DEPTHWISE_CONV_2D int8, per-channel (TFLite reference_integer_ops::DepthwiseConvPerChannel).
 *
 * The input rows an output row needs sit in the ring of zero-point-padded rows of tinyhil_depthwise.h
 * (shared with the fused block, mbconv_fused.c, which also runs th_depthwise_row_s8). The ring also
 * makes the kernel safe in place (stride 1 in H): output row y overwrites input row y only after every
 * row it still needs is in the ring.
 *
 * The filter comes widened to int16 from the host, per group of 4 output channels and per tap
 * {w[c0], w[c2], w[c1], w[c3]}: the order SXTAB16 / SXTAB16-ROR8 gives the inputs, so with depth
 * multiplier 1 the DSP path is one load, two SXTAB16 (which also add the input offset) and four
 * SMLABB / SMLATT per tap and 4 channels. */
#include "tinyhil_depthwise.h"

#define TH_DW_MAX_TAPS 64 /* the tap list, up to 8x8: the search spaces' 7x7 windows (49 taps) stay on it */
#define TH_DW_MULT_MAX_PAIRS 32 /* depth multiplier > 1: tap pairs per window */
#define TH_DW_WINDOW_MAX 7 /* rows of the fixed windows (th_dw_row_dsp_window) */
#define TH_DW_RECORD_PARAMS 4 /* depth multiplier > 1: after each record's weight words, {bias, mult, K, e} */

/* Depth multiplier > 1: output channel oc's record (lower.depthwise_multiplier_records), its taps in q15 pairs
 * (the odd tap's partner 0), then {bias, mult, K, e} (tinyhil_depthwise.h's folded requantisation) */
static inline const int32_t *th_dw_mult_record(const th_conv_args *a, int32_t oc) {
    const int32_t words = ((a->k_h * a->k_w + 1) >> 1) + TH_DW_RECORD_PARAMS;
    return (const int32_t *)(const void *)a->filter_q15 + (size_t)oc * words;
}

static inline int32_t th_dw_q15_weight(const th_conv_args *a, int32_t oc, int32_t tap) {
    static const int8_t lane[4] = {0, 2, 1, 3}; /* channel within its group -> halfword */
    if (a->depth_multiplier > 1) { /* little-endian: tap 2i is word i's low half */
        return ((const int16_t *)(const void *)th_dw_mult_record(a, oc))[tap];
    }
    return a->filter_q15[((size_t)(oc >> 2) * a->k_h * a->k_w + tap) * 4 + lane[oc & 3]];
}

/* accumulator -> output byte: the record's requantisation (multiplier > 1) or the layer's arrays; out of line,
 * -Os: one copy of the requantisations (flash) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noinline, optimize("Os")))
#endif
static int8_t th_dw_output(const th_conv_args *a, const int32_t *record, int32_t acc, int32_t oc) {
    return record ? th_dw_record_output(a, record, acc) : th_conv_output(a, acc, oc);
}

/* Any depth multiplier, one output channel at a time. */
#if TINYHIL_USE_DSP && defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("Os"))) /* on a DSP core only the fallback for windows past 32 / 64 taps: small, not fast */
#endif
static void th_dw_row_portable(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t mult = a->depth_multiplier, stride = th_round_up4(a->in_c);
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        int8_t *out_px = out_row + (size_t)ox * a->out_c;
        for (int32_t oc = 0; oc < a->out_c; ++oc) {
            const int32_t c = oc / mult, pairs = (a->k_h * a->k_w + 1) >> 1;
            const int32_t *record = mult > 1 ? th_dw_mult_record(a, oc) + pairs : NULL;
            int32_t acc = record ? record[0] : a->bias[oc];
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                for (int32_t kx = 0; kx < a->k_w; ++kx) {
                    const int32_t col = ox * a->stride_w + kx * a->dil_w;
                    const int32_t x = rows[ky][(size_t)col * stride + c];
                    acc += (x + a->input_offset) * th_dw_q15_weight(a, oc, ky * a->k_w + kx);
                }
            }
            out_px[oc] = th_dw_output(a, record, acc, oc);
        }
    }
}

#if TINYHIL_USE_DSP
/* one tap for 4 channels: the inputs widened with the input offset added, times the int16 weights */
#define TH_DW_TAP(x, w)                                                                   \
    do {                                                                                  \
        const uint32_t xv_ = th_read_s8x4(x);                                             \
        const uint32_t x_even_ = th_sxtab16(offsets, xv_), x_odd_ = th_sxtab16_ror8(offsets, xv_); \
        const uint32_t w_even_ = (w)[0], w_odd_ = (w)[1];                                 \
        acc0 = th_smlabb(x_even_, w_even_, acc0);                                         \
        acc2 = th_smlatt(x_even_, w_even_, acc2);                                         \
        acc1 = th_smlabb(x_odd_, w_odd_, acc1);                                           \
        acc3 = th_smlatt(x_odd_, w_odd_, acc3);                                           \
    } while (0)

/* the 4 accumulators of channels c..c+3 -> 4 output bytes (requantised, offset, saturated to int8) */
static inline __attribute__((always_inline)) uint32_t th_dw_output_s8x4_saturated(const th_conv_args *a, int32_t c,
                                                                            int32_t acc0, int32_t acc1,
                                                                            int32_t acc2, int32_t acc3) {
    const int32_t offset = a->output_offset;
    if (a->requant) {
        const int32_t *q = a->requant + 2 * c;
        acc0 = th_requantise_fast(acc0, q[0], q[1]);
        acc1 = th_requantise_fast(acc1, q[2], q[3]);
        acc2 = th_requantise_fast(acc2, q[4], q[5]);
        acc3 = th_requantise_fast(acc3, q[6], q[7]);
    } else { /* lanes past the last channel (a partial group) give don't-care bytes */
        const int32_t *m = a->out_multiplier + c, *sh = a->out_shift + c;
        const int32_t lanes = a->out_c - c;
        acc0 = th_mbqm(acc0, m[0], sh[0]);
        acc1 = lanes > 1 ? th_mbqm(acc1, m[1], sh[1]) : 0;
        acc2 = lanes > 2 ? th_mbqm(acc2, m[2], sh[2]) : 0;
        acc3 = lanes > 3 ? th_mbqm(acc3, m[3], sh[3]) : 0;
    }
    return th_pack_s8x4(th_ssat8(acc0 + offset), th_ssat8(acc1 + offset), th_ssat8(acc2 + offset),
                        th_ssat8(acc3 + offset));
}

/* the same, clamped to the activation's bounds */
static inline __attribute__((always_inline)) uint32_t th_dw_output_s8x4(const th_conv_args *a, int32_t c, int32_t acc0,
                                                                  int32_t acc1, int32_t acc2, int32_t acc3,
                                                                  uint32_t lo4, uint32_t hi4) {
    return th_clamp_s8x4(th_dw_output_s8x4_saturated(a, c, acc0, acc1, acc2, acc3), lo4, hi4);
}

#if TINYHIL_DSP_ASM
/* One tap once its input word xv and weight words we, wo are loaded: widen (adding the input offsets), 4 multiplies.
 * Volatile, as are the loads' asm (TH_DW_TAP_AT, TH_DW_TAP_NEXT): kept in order, the compiler does not hoist all
 * 18 weight loads of an unrolled window and spill them. */
static inline __attribute__((always_inline)) void th_dw_tap_macs(uint32_t xv, uint32_t we, uint32_t wo, uint32_t offsets,
                                                                int32_t *acc0, int32_t *acc1, int32_t *acc2,
                                                                int32_t *acc3) {
    uint32_t xe;
    __asm__ volatile("sxtab16 %[xe], %[off], %[xv]\n\t"
                     "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"
                     "smlabb %[a0], %[xe], %[we], %[a0]\n\t"
                     "smlatt %[a2], %[xe], %[we], %[a2]\n\t"
                     "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"
                     "smlatt %[a3], %[xv], %[wo], %[a3]"
                     : [a0] "+r"(*acc0), [a1] "+r"(*acc1), [a2] "+r"(*acc2), [a3] "+r"(*acc3), [xv] "+r"(xv),
                       [xe] "=&r"(xe)
                     : [we] "r"(we), [wo] "r"(wo), [off] "r"(offsets));
}

/* TH_DW_TAP with its loads in asm. ADDRESS: the input word's addressing mode. */
#define TH_DW_TAP_AT(ADDRESS, ptr_, step_, wp_, WORD)                                                   \
    do {                                                                                                \
        uint32_t xv_, we_, wo_;                                                                         \
        __asm__ volatile("ldr    %[xv], " ADDRESS "\n\t"                                                \
                         "ldrd   %[we], %[wo], [%[w], #" #WORD " * 4]"                                  \
                         : [xv] "=&r"(xv_), [we] "=&r"(we_), [wo] "=&r"(wo_)                            \
                         : [p] "r"(ptr_), [s] "r"(step_), [w] "r"(wp_)                                  \
                         : "memory");                                                                   \
        th_dw_tap_macs(xv_, we_, wo_, offsets, &acc0, &acc1, &acc2, &acc3);                             \
    } while (0)
#define TH_DW_ROW3(ptr_, step_, wp_, WORD0, WORD1, WORD2)                 \
    do {                                                                \
        TH_DW_TAP_AT("[%[p]]", ptr_, step_, wp_, WORD0);                \
        TH_DW_TAP_AT("[%[p], %[s]]", ptr_, step_, wp_, WORD1);          \
        TH_DW_TAP_AT("[%[p], %[s], lsl #1]", ptr_, step_, wp_, WORD2);  \
    } while (0)
#else
#define TH_DW_ROW3(ptr_, step_, wp_, WORD0, WORD1, WORD2)   \
    do {                                                  \
        TH_DW_TAP(ptr_, (wp_) + (WORD0));                 \
        TH_DW_TAP((ptr_) + (step_), (wp_) + (WORD1));     \
        TH_DW_TAP((ptr_) + 2 * (step_), (wp_) + (WORD2)); \
    } while (0)
#endif

/* 3x3, dilation 1, multiplier 1, channels a multiple of 4 (the MobileNet case): per output pixel
 * all channel groups in turn, three row pointers, the nine taps unrolled. */
static void th_dw_row_dsp_3x3(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t channels = a->in_c, px_step = a->stride_w * channels;
    const uint32_t offsets = ((uint32_t)(uint16_t)a->input_offset << 16) | (uint16_t)a->input_offset;
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    int8_t *out_px = out_row;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        const int8_t *r0 = rows[0] + (size_t)ox * px_step, *r1 = rows[1] + (size_t)ox * px_step;
        const int8_t *r2 = rows[2] + (size_t)ox * px_step;
        const uint32_t *w = (const uint32_t *)(const void *)a->filter_q15;
        for (int32_t c = 0; c < channels; c += 4, r0 += 4, r1 += 4, r2 += 4, w += 18, out_px += 4) {
            int32_t acc0 = a->bias[c], acc1 = a->bias[c + 1], acc2 = a->bias[c + 2], acc3 = a->bias[c + 3];
            TH_DW_ROW3(r0, channels, w, 0, 2, 4);
            TH_DW_ROW3(r1, channels, w, 6, 8, 10);
            TH_DW_ROW3(r2, channels, w, 12, 14, 16);
            th_write_s8x4(out_px, th_dw_output_s8x4(a, c, acc0, acc1, acc2, acc3, lo4, hi4));
        }
    }
}

#if TINYHIL_DSP_ASM
/* TH_DW_TAP_AT for the tap at [ptr_, at_], its weights the next two words at wp_ (post-incremented) */
#define TH_DW_TAP_NEXT(ptr_, at_, wp_)                                                   \
    do {                                                                                \
        uint32_t xv_, we_, wo_;                                                         \
        __asm__ volatile("ldr    %[xv], [%[p], %[s]]\n\t"                               \
                         "ldrd   %[we], %[wo], [%[w]], #8"                              \
                         : [xv] "=&r"(xv_), [we] "=&r"(we_), [wo] "=&r"(wo_), [w] "+r"(wp_) \
                         : [p] "r"(ptr_), [s] "r"(at_)                                  \
                         : "memory");                                                   \
        th_dw_tap_macs(xv_, we_, wo_, offsets, &acc0, &acc1, &acc2, &acc3);             \
    } while (0)
#else
#define TH_DW_TAP_NEXT(ptr_, at_, wp_) \
    do {                             \
        TH_DW_TAP((ptr_) + (at_), wp_); \
        (wp_) += 2;                  \
    } while (0)
#endif

/* A fixed KH x KW window (the variant's constants: the taps unroll), dilation 1 in W, multiplier 1, channels
 * a multiple of 4, requant set: per output pixel a pointer per tap, then all channel groups in turn, each tap
 * one load (at the group's offset), two SXTAB16 and four multiplies, its weights read in order; the activation
 * clamp only where the bounds lie inside int8. */
static inline __attribute__((always_inline)) void th_dw_row_dsp_window(const th_conv_args *a, const int8_t *const *rows,
                                                                      int8_t *out_row, int32_t KH, int32_t KW) {
    const int32_t channels = a->in_c, px_step = a->stride_w * channels;
    const uint32_t offsets = ((uint32_t)(uint16_t)a->input_offset << 16) | (uint16_t)a->input_offset;
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    const int clamp = a->act_min > -128 || a->act_max < 127;
    const int32_t offset = a->output_offset;
    int8_t *out_px = out_row;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        const int8_t *tap[TH_DW_WINDOW_MAX * TH_DW_WINDOW_MAX];
        for (int32_t ky = 0; ky < KH; ++ky) {
            for (int32_t kx = 0; kx < KW; ++kx) {
                tap[ky * KW + kx] = rows[ky] + (size_t)ox * px_step + (size_t)kx * channels;
            }
        }
        const uint32_t *w = (const uint32_t *)(const void *)a->filter_q15;
        const int32_t *bias = a->bias, *q = a->requant;
        for (int32_t c = 0; c < channels; c += 4, out_px += 4, bias += 4, q += 8) {
            int32_t acc0 = bias[0], acc1 = bias[1], acc2 = bias[2], acc3 = bias[3];
            for (int32_t t = 0; t < KH * KW; ++t) {
                TH_DW_TAP_NEXT(tap[t], c, w);
            }
            const uint32_t packed = th_pack_s8x4(th_ssat8(th_requantise_fast(acc0, q[0], q[1]) + offset),
                                                 th_ssat8(th_requantise_fast(acc1, q[2], q[3]) + offset),
                                                 th_ssat8(th_requantise_fast(acc2, q[4], q[5]) + offset),
                                                 th_ssat8(th_requantise_fast(acc3, q[6], q[7]) + offset));
            th_write_s8x4(out_px, clamp ? th_clamp_s8x4(packed, lo4, hi4) : packed);
        }
    }
}
#define TH_DW_WINDOW_ROW(KH, KW)                                                                               \
    static void th_dw_row_dsp_##KH##x##KW(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {  \
        th_dw_row_dsp_window(a, rows, out_row, KH, KW);                                                         \
    }
TH_DW_WINDOW_ROW(3, 1)
TH_DW_WINDOW_ROW(5, 1)
TH_DW_WINDOW_ROW(7, 1)
TH_DW_WINDOW_ROW(1, 3)
TH_DW_WINDOW_ROW(1, 5)
TH_DW_WINDOW_ROW(1, 7)
TH_DW_WINDOW_ROW(5, 5)
TH_DW_WINDOW_ROW(7, 7)

/* Depth multiplier 1, any window (k x 1, 1 x k, 5x5, dilated, channels not a multiple of 4):
 * 4 channels per step. The window's taps are a list of ring-row pointers made once per row, so
 * every tap is one pointer load plus TH_DW_TAP_AT's load, widen and 4 multiplies, whatever its
 * shape (a k x 1 filter no longer pays a row loop per tap). */
static void th_dw_row_dsp(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t channels = a->in_c, stride = th_round_up4(channels), taps = a->k_h * a->k_w;
    const int32_t tap_step = a->dil_w * stride, px_step = a->stride_w * stride;
    const uint32_t offsets = ((uint32_t)(uint16_t)a->input_offset << 16) | (uint16_t)a->input_offset;
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    const int8_t *tap_rows[TH_DW_MAX_TAPS];
    for (int32_t t = 0; t < taps; ++t) {
        tap_rows[t] = rows[t / a->k_w] + (size_t)(t % a->k_w) * tap_step;
    }
    for (int32_t c = 0; c < channels; c += 4) {
        const uint32_t *w_group = (const uint32_t *)(const void *)(a->filter_q15 + (size_t)(c >> 2) * taps * 4);
        const int32_t *bias = a->bias + c;
        int8_t *out_px = out_row + c;
        for (int32_t ox = 0; ox < a->out_w; ++ox, out_px += channels) {
            int32_t acc0 = bias[0], acc1 = bias[1], acc2 = bias[2], acc3 = bias[3];
            const int32_t at = ox * px_step + c; /* bytes into each tap's ring row */
            const uint32_t *w = w_group;
            for (int32_t t = 0; t < taps; ++t, w += 2) {
#if TINYHIL_DSP_ASM
                TH_DW_TAP_AT("[%[p], %[s]]", tap_rows[t], at, w, 0);
#else
                TH_DW_TAP(tap_rows[t] + at, w);
#endif
            }
            const uint32_t packed = th_dw_output_s8x4(a, c, acc0, acc1, acc2, acc3, lo4, hi4);
            if (c + 4 <= channels) {
                th_write_s8x4(out_px, packed);
            } else {
                memcpy(out_px, &packed, (size_t)(channels - c)); /* little-endian: lane 0 first */
            }
        }
    }
}

/* Depth multiplier > 1: each input channel's window is read once for all its outputs. Per output pixel and
 * input channel, the window's taps (input offset added) are packed in q15 pairs, in registers for a fixed
 * KH x KW; the channel's outputs then read their records (th_dw_mult_record) in order: one SMLAD per two taps
 * and the folded requantisation (smmlar, add, qadd, asr, ssat), 4 outputs per packed clamp and store where the
 * multiplier is a multiple of 4. Only for records with the folded requantisation (e > 0: lower.depthwise_kernel
 * names the portable row for the others). */
static inline __attribute__((always_inline)) void th_dw_mult_row(const th_conv_args *a, const int8_t *const *rows,
                                                                int8_t *out_row, int32_t KH, int32_t KW) {
    const int32_t mult = a->depth_multiplier, in_c = a->in_c, stride = th_round_up4(in_c);
    const int32_t taps = KH * KW, pairs = (taps + 1) >> 1, words = pairs + TH_DW_RECORD_PARAMS;
    const int32_t tap_step = a->dil_w * stride, px_step = a->stride_w * stride, offset = a->input_offset;
    const int32_t lo = a->act_min, hi = a->act_max;
    const uint32_t lo4 = th_splat_s8x4(lo), hi4 = th_splat_s8x4(hi);
    int8_t *y = out_row;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        const int32_t *k = th_dw_mult_record(a, 0);
        for (int32_t c = 0; c < in_c; ++c) {
            uint32_t xw[TH_DW_MULT_MAX_PAIRS];
            int32_t window[2 * TH_DW_MULT_MAX_PAIRS + 1];
            int32_t t = 0;
            for (int32_t ky = 0; ky < KH; ++ky) {
                const int8_t *x = rows[ky] + (size_t)ox * px_step + c;
                for (int32_t kx = 0; kx < KW; ++kx, x += tap_step) {
                    window[t++] = *x + offset;
                }
            }
            window[taps] = 0; /* the odd tap's partner: its weight is 0 too */
            for (int32_t i = 0; i < pairs; ++i) {
                xw[i] = ((uint32_t)window[2 * i + 1] << 16) | ((uint32_t)window[2 * i] & 0xFFFFu);
            }
            if (mult % 4 == 0) {
                for (int32_t j = 0; j < mult; j += 4, y += 4) {
                    int32_t v[4];
                    for (int32_t l = 0; l < 4; ++l, k += words) {
                        int32_t acc = k[pairs];
                        for (int32_t i = 0; i < pairs; ++i) {
                            acc = th_smlad(xw[i], (uint32_t)k[i], acc);
                        }
                        v[l] = th_dwp_out_saturated(acc, k + pairs);
                    }
                    th_write_s8x4(y, th_clamp_s8x4(th_pack_s8x4(v[0], v[1], v[2], v[3]), lo4, hi4));
                }
            } else {
                for (int32_t j = 0; j < mult; ++j, ++y, k += words) { /* multipliers 2, 3, 5, ... */
                    int32_t acc = k[pairs];
                    for (int32_t i = 0; i < pairs; ++i) {
                        acc = th_smlad(xw[i], (uint32_t)k[i], acc);
                    }
                    const int32_t v = th_dwp_out_saturated(acc, k + pairs);
                    *y = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
                }
            }
        }
    }
}

/* 3x3 (the window in five registers) and any other window up to 2 x TH_DW_MULT_MAX_PAIRS taps */
static void th_dw_row_dsp_multiplier_3x3(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    th_dw_mult_row(a, rows, out_row, 3, 3);
}
static void th_dw_row_dsp_multiplier(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    th_dw_mult_row(a, rows, out_row, a->k_h, a->k_w);
}
#endif


/* Line rows: a k x 1 or 1 x k window (k = 3, 5, 7), dilation 1, multiplier 1, channels a multiple of 4, the
 * folded requantisation and SSAT's bounds (lower.depthwise_line). filter_q15 holds one record per group of 4
 * channels in the order the loop reads it (lower.depthwise_line_records): the 4 biases with the input offset
 * folded in (a padded tap holds the zero point, so it still adds nothing), per tap the weight words {c0, c2},
 * {c1, c3}, then per channel {mult, K, e}, tinyhil_depthwise.h's folded requantisation. A step of 4 channels
 * is then the biases, per tap one input word, one weight pair, two SXTB16 and four multiplies, and per output
 * the five instructions of the folded requantisation, with one pointer into the records and no other. */
#define TH_DW_LINE_MAX_TAPS 7

/* one output of a record's {mult, K, e}: MultiplyByQuantizedMultiplier, the offset, the activation bounds */
static inline int8_t th_dw_line_output(const th_conv_args *a, const int32_t *q, int32_t acc) {
    return th_clamp_s8(th_mbqm(acc, (int32_t)((uint32_t)q[0] >> 1), -q[2]) + a->output_offset, a->act_min,
                       a->act_max);
}

/* the line row in C, the twin of the asm rows below: vertical, a k x 1 window (a tap per ring row), else 1 x k
 * (the taps along one row) */
static void th_dw_line_row_portable(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row, int32_t taps,
                                    int vertical) {
    static const int8_t lane[4] = {0, 2, 1, 3}; /* channel within its group -> halfword of its tap's words */
    const int32_t channels = a->in_c, px_step = a->stride_w * channels, words = 4 + 2 * taps + 12;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        for (int32_t c = 0; c < channels; ++c) {
            const int32_t *record = (const int32_t *)(const void *)a->filter_q15 + (size_t)(c >> 2) * words;
            const int16_t *w = (const int16_t *)(const void *)(record + 4);
            int32_t acc = record[c & 3];
            for (int32_t t = 0; t < taps; ++t) {
                const int8_t *tap = vertical ? rows[t] : rows[0] + (size_t)t * channels;
                acc += tap[(size_t)ox * px_step + c] * w[t * 4 + lane[c & 3]];
            }
            out_row[(size_t)ox * channels + c] = th_dw_line_output(a, record + 4 + 2 * taps + 3 * (c & 3), acc);
        }
    }
}

#if TINYHIL_DSP_ASM
/* One tap of a line step once its input word is in x: its weight pair, widened input, four multiplies */
#define TH_DW_LINE_MACS                                   \
    "ldrd   %[we], %[wo], [%[q]], #8\n\t"                 \
    "sxtb16 %[xe], %[x]\n\t"                              \
    "sxtb16 %[x], %[x], ror #8\n\t"                       \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"               \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"               \
    "smlabb %[a1], %[x], %[wo], %[a1]\n\t"                \
    "smlatt %[a3], %[x], %[wo], %[a3]\n\t"
/* a tap whose pointer is in a register, or on the stack (the loop has no register left for it) */
#define TH_DW_LINE_TAP(P) "ldr    %[x], [%[" P "], %[c]]\n\t" TH_DW_LINE_MACS
#define TH_DW_LINE_TAP_SPILLED(M) "ldr    %[wo], %[" M "]\n\t" "ldr    %[x], [%[wo], %[c]]\n\t" TH_DW_LINE_MACS
/* accumulator A -> its output byte (sign-extended): the record's {mult, K, e}, th_dwp_out_saturated */
#define TH_DW_LINE_OUT(A)                                 \
    "ldrd   %[we], %[wo], [%[q]], #8\n\t"                 \
    "ldr    %[xe], [%[q]], #4\n\t"                        \
    "smmlar %[" A "], %[" A "], %[we], %[" A "]\n\t"      \
    "add    %[" A "], %[" A "], %[" A "], asr #31\n\t"    \
    "qadd   %[" A "], %[" A "], %[wo]\n\t"                \
    "asr    %[" A "], %[" A "], %[xe]\n\t"                \
    "ssat   %[" A "], #8, %[" A "]\n\t"
/* every channel group of one output pixel: c counts from -channels up to 0 (the pointers point past the
 * pixel's channels), so the loop's test is the flags of its increment */
#define TH_DW_LINE_ASM(TAPS_ASM, ...)                                                                          \
    __asm__ volatile("0:\n\t"                                                                               \
                     "ldrd   %[a0], %[a1], [%[q]], #8\n\t"                                                  \
                     "ldrd   %[a2], %[a3], [%[q]], #8\n\t" TAPS_ASM TH_DW_LINE_OUT("a0") TH_DW_LINE_OUT("a1") \
                     TH_DW_LINE_OUT("a2") TH_DW_LINE_OUT("a3")                                              \
                     "bfi    %[a0], %[a1], #8, #8\n\t"                                                      \
                     "bfi    %[a0], %[a2], #16, #8\n\t"                                                     \
                     "bfi    %[a0], %[a3], #24, #8\n\t"                                                     \
                     "ldr    %[x], %[out]\n\t"                                                              \
                     "str    %[a0], [%[x], %[c]]\n\t"                                                       \
                     "adds   %[c], %[c], #4\n\t"                                                            \
                     "bne    0b"                                                                            \
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "=&r"(x),      \
                       [xe] "=&r"(xe), [we] "=&r"(we), [wo] "=&r"(wo), [c] "+r"(c), [q] "+r"(q)          \
                     : [p0] "r"(tap[0]), [p1] "r"(tap[1]), [p2] "r"(tap[2]), [out] "m"(out), __VA_ARGS__    \
                     : "cc", "memory")

static inline __attribute__((always_inline)) void th_dw_line_row(const th_conv_args *a, const int8_t *const *rows,
                                                                int8_t *out_row, int32_t TAPS, int vertical) {
    const int32_t channels = a->in_c, px_step = a->stride_w * channels;
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        const int8_t *tap[TH_DW_LINE_MAX_TAPS];
        for (int32_t t = 0; t < TAPS; ++t) {
            tap[t] = (vertical ? rows[t] : rows[0] + (size_t)t * channels) + (size_t)ox * px_step + channels;
        }
        int8_t *out = out_row + (size_t)(ox + 1) * channels;
        const int32_t *q = (const int32_t *)(const void *)a->filter_q15;
        int32_t c = -channels, a0, a1, a2, a3;
        uint32_t x, xe, we, wo;
        if (TAPS == 3) {
            /* no spilled tap: [t3] is unused, there because the macro's operand list takes at least one */
            TH_DW_LINE_ASM(TH_DW_LINE_TAP("p0") TH_DW_LINE_TAP("p1") TH_DW_LINE_TAP("p2"), [t3] "m"(tap[0]));
        } else if (TAPS == 5) {
            TH_DW_LINE_ASM(TH_DW_LINE_TAP("p0") TH_DW_LINE_TAP("p1") TH_DW_LINE_TAP("p2") TH_DW_LINE_TAP_SPILLED("t3")
                           TH_DW_LINE_TAP_SPILLED("t4"), [t3] "m"(tap[3]), [t4] "m"(tap[4]));
        } else {
            TH_DW_LINE_ASM(TH_DW_LINE_TAP("p0") TH_DW_LINE_TAP("p1") TH_DW_LINE_TAP("p2") TH_DW_LINE_TAP_SPILLED("t3")
                           TH_DW_LINE_TAP_SPILLED("t4") TH_DW_LINE_TAP_SPILLED("t5") TH_DW_LINE_TAP_SPILLED("t6"),
                           [t3] "m"(tap[3]), [t4] "m"(tap[4]), [t5] "m"(tap[5]), [t6] "m"(tap[6]));
        }
    }
}
#else
#define th_dw_line_row th_dw_line_row_portable
#endif

#define TH_DW_LINE_ROW(KH, KW)                                                                                    \
    static void th_dw_row_line_##KH##x##KW(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {   \
        th_dw_line_row(a, rows, out_row, (KH) * (KW), (KH) > 1);                                                 \
    }
TH_DW_LINE_ROW(3, 1)
TH_DW_LINE_ROW(5, 1)
TH_DW_LINE_ROW(7, 1)
TH_DW_LINE_ROW(1, 3)
TH_DW_LINE_ROW(1, 5)
TH_DW_LINE_ROW(1, 7)

#if !TINYHIL_USE_DSP /* every variant runs the portable row */
#define th_dw_row_dsp_3x3 th_dw_row_portable
#define th_dw_row_dsp_3x1 th_dw_row_portable
#define th_dw_row_dsp_5x1 th_dw_row_portable
#define th_dw_row_dsp_7x1 th_dw_row_portable
#define th_dw_row_dsp_1x3 th_dw_row_portable
#define th_dw_row_dsp_1x5 th_dw_row_portable
#define th_dw_row_dsp_1x7 th_dw_row_portable
#define th_dw_row_dsp_5x5 th_dw_row_portable
#define th_dw_row_dsp_7x7 th_dw_row_portable
#define th_dw_row_dsp th_dw_row_portable
#define th_dw_row_dsp_multiplier th_dw_row_portable
#define th_dw_row_dsp_multiplier_3x3 th_dw_row_portable
#endif

/* One output row from the k_h ring rows of its window, the row loop chosen at run time: the fused block's
 * depthwise (mbconv_fused.c), which is one function for every shape. */
void th_depthwise_row_s8(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    if (a->depth_multiplier == 1) {
        const int32_t unrolled = a->k_h == 3 && a->k_w == 3 && a->dil_w == 1 && a->in_c % 4 == 0;
        if (unrolled) {
            th_dw_row_dsp_3x3(a, rows, out_row);
        } else if (a->k_h * a->k_w <= TH_DW_MAX_TAPS) {
            th_dw_row_dsp(a, rows, out_row);
        } else {
            th_dw_row_portable(a, rows, out_row);
        }
    } else if (a->k_h * a->k_w <= 2 * TH_DW_MULT_MAX_PAIRS) {
        th_dw_row_dsp_multiplier(a, rows, out_row);
    } else {
        th_dw_row_portable(a, rows, out_row);
    }
    if (a->table) { /* a folded activation, while the row is still in cache */
        th_table_lookup_s8(a->table, a->out_w * a->out_c, out_row, out_row);
    }
}

typedef void (*th_dw_row_fn)(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row);

/* out_b may be in_b (in place, stride 1 in H): see the file comment. Not cloned per variant: one copy of the
 * ring code whichever row it runs; -Os, as the rows and the ring's memcpy are where the time goes (flash). */
static __attribute__((noinline, noclone, optimize("Os"))) void depthwise(const th_conv_args *a, const int8_t *input,
                                                                          int8_t *output, int8_t *scratch,
                                                                          th_dw_row_fn row_fn) {
    const int8_t *rows[TH_DEPTHWISE_MAX_KERNEL_H];
    const size_t out_row_bytes = (size_t)a->out_w * a->out_c;
    const size_t in_bytes = (size_t)a->in_h * a->in_w * a->in_c, out_bytes = (size_t)a->out_h * out_row_bytes;
    th_row_ring ring;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * in_bytes;
        int8_t *out_b = output + (size_t)b * out_bytes;
        th_dw_ring_init(&ring, a, scratch);
        for (int32_t oy = 0; oy < a->out_h; ++oy) {
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                rows[ky] = th_dw_ring_row(&ring, a, in_b, oy * a->stride_h - a->pad_h + ky * a->dil_h, ky);
            }
            int8_t *out_row = out_b + (size_t)oy * out_row_bytes;
            row_fn(a, rows, out_row);
            if (a->table) {
                th_table_lookup_s8(a->table, a->out_w * a->out_c, out_row, out_row);
            }
        }
    }
}

/* The kernel variants (tinyhil_kernels.h); in place, the output is the input (the same shape) */
#define TH_DW_KERNEL(VARIANT, ROW)                                                                             \
    void th_depthwise_conv2d_##VARIANT##_s8(const th_conv_args *a, const int8_t *input, int8_t *output,        \
                                            int8_t *scratch) {                                                 \
        depthwise(a, input, output, scratch, ROW);                                                             \
    }                                                                                                          \
    void th_depthwise_conv2d_##VARIANT##_inplace_s8(const th_conv_args *a, int8_t *buffer, int8_t *scratch) {  \
        depthwise(a, buffer, buffer, scratch, ROW);                                                            \
    }
TH_DW_KERNEL(3x3, th_dw_row_dsp_3x3)
TH_DW_KERNEL(3x1, th_dw_row_dsp_3x1)
TH_DW_KERNEL(5x1, th_dw_row_dsp_5x1)
TH_DW_KERNEL(7x1, th_dw_row_dsp_7x1)
TH_DW_KERNEL(1x3, th_dw_row_dsp_1x3)
TH_DW_KERNEL(1x5, th_dw_row_dsp_1x5)
TH_DW_KERNEL(1x7, th_dw_row_dsp_1x7)
TH_DW_KERNEL(5x5, th_dw_row_dsp_5x5)
TH_DW_KERNEL(7x7, th_dw_row_dsp_7x7)
TH_DW_KERNEL(taps, th_dw_row_dsp)
TH_DW_KERNEL(multiplier, th_dw_row_dsp_multiplier)
TH_DW_KERNEL(multiplier_3x3, th_dw_row_dsp_multiplier_3x3)
TH_DW_KERNEL(portable, th_dw_row_portable)
TH_DW_KERNEL(line_3x1, th_dw_row_line_3x1)
TH_DW_KERNEL(line_5x1, th_dw_row_line_5x1)
TH_DW_KERNEL(line_7x1, th_dw_row_line_7x1)
TH_DW_KERNEL(line_1x3, th_dw_row_line_1x3)
TH_DW_KERNEL(line_1x5, th_dw_row_line_1x5)
TH_DW_KERNEL(line_1x7, th_dw_row_line_1x7)
