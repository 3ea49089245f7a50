/* The per-row arithmetic of DEPTHWISE_CONV_2D int8 (TFLite reference_integer_ops::DepthwiseConvPerChannel),
 * shared by depthwise_conv2d.c and the fused inverted-residual block (mbconv_fused.c), so both give the
 * same bytes by construction.
 *
 * The input rows an output row needs sit in a ring of k_h rows, padded left and right with the input
 * zero point, and rows above / below the image are all zero point: a padded tap then adds
 * (zp + input_offset) * w = 0, exactly TFLite's padding, so every output pixel runs the full window
 * with no bounds checks. Ring rows keep each pixel's channels at a 4-byte stride.
 *
 * The filter comes widened to int16 from the host, per group of 4 output channels and per tap
 * {w[c0], w[c2], w[c1], w[c3]}: the order SXTAB16 / SXTAB16-ROR8 gives the inputs, so with depth
 * multiplier 1 the DSP path is one load, two SXTAB16 (which also add the input offset) and four
 * SMLABB / SMLATT per tap and 4 channels. */
#ifndef TINYHIL_DEPTHWISE_H
#define TINYHIL_DEPTHWISE_H

#include "tinyhil_matmul.h"


typedef struct {
    int8_t *rows;                            /* k_h padded rows */
    int32_t padded_w, channel_stride;        /* pixels per ring row, bytes per pixel */
    int32_t held[TH_DEPTHWISE_MAX_KERNEL_H]; /* input row in each slot */
} th_row_ring;

static inline int32_t th_dw_padded_width(const th_conv_args *a) {
    return (a->out_w - 1) * a->stride_w + (a->k_w - 1) * a->dil_w + 1;
}

static inline void th_dw_ring_init(th_row_ring *ring, const th_conv_args *a, int8_t *scratch) {
    ring->rows = scratch;
    ring->padded_w = th_dw_padded_width(a);
    ring->channel_stride = th_round_up4(a->in_c);
    for (int32_t slot = 0; slot < TH_DEPTHWISE_MAX_KERNEL_H; ++slot) {
        ring->held[slot] = INT32_MIN;
    }
}

/* The ring slot for input row iy (filter row ky). With dilation 1 the k_h rows of a window are
 * consecutive, so iy mod k_h keeps rows that later windows reuse. *fresh: the slot held another
 * row, and the caller must fill it (th_dw_ring_fill, or the fused block's expansion). */
static inline int8_t *th_dw_ring_slot(th_row_ring *ring, const th_conv_args *a, int32_t iy, int32_t ky, int *fresh) {
    const int32_t slot = a->dil_h == 1 ? (iy + a->pad_h) % a->k_h : ky;
    int8_t *row = ring->rows + (size_t)slot * ring->padded_w * ring->channel_stride;
    *fresh = ring->held[slot] != iy;
    ring->held[slot] = iy;
    return row;
}

/* Input row iy (in_b: the image's rows) into a ring row, zero-point padded; all padding above / below. */
static inline void th_dw_ring_fill(const th_row_ring *ring, const th_conv_args *a, const int8_t *in_b, int32_t iy,
                                   int8_t *row) {
    const size_t row_bytes = (size_t)ring->padded_w * ring->channel_stride;
    const int8_t pad = (int8_t)(-a->input_offset);
    if (iy < 0 || iy >= a->in_h) {
        memset(row, pad, row_bytes);
        return;
    }
    const int32_t in_c = a->in_c, stride = ring->channel_stride;
    const int32_t first = a->pad_w, last = th_min_i32(ring->padded_w, a->pad_w + a->in_w); /* image columns */
    const int8_t *src = in_b + (size_t)iy * a->in_w * in_c;
    memset(row, pad, (size_t)first * stride);
    if (in_c == stride) {
        memcpy(row + (size_t)first * stride, src, (size_t)(last - first) * in_c);
    } else {
        for (int32_t col = first; col < last; ++col) {
            memcpy(row + (size_t)col * stride, src + (size_t)(col - first) * in_c, (size_t)in_c);
            memset(row + (size_t)col * stride + in_c, pad, (size_t)(stride - in_c));
        }
    }
    memset(row + (size_t)last * stride, pad, (size_t)(ring->padded_w - last) * stride);
}

/* The ring row for input row iy, copied in from the input on first use. */
static inline const int8_t *th_dw_ring_row(th_row_ring *ring, const th_conv_args *a, const int8_t *in_b, int32_t iy,
                                           int32_t ky) {
    int fresh;
    int8_t *row = th_dw_ring_slot(ring, a, iy, ky, &fresh);
    if (fresh) {
        th_dw_ring_fill(ring, a, in_b, iy, row);
    }
    return row;
}

static inline int32_t th_dw_q15_weight(const th_conv_args *a, int32_t oc, int32_t tap) {
    static const int8_t lane[4] = {0, 2, 1, 3}; /* channel within its group -> halfword */
    const int32_t taps = a->k_h * a->k_w;
    return a->filter_q15[((size_t)(oc >> 2) * taps + tap) * 4 + lane[oc & 3]];
}

/* Any depth multiplier, one output channel at a time. */
static inline void th_dw_row_portable(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t mult = a->depth_multiplier, stride = th_round_up4(a->in_c);
    for (int32_t ox = 0; ox < a->out_w; ++ox) {
        int8_t *out_px = out_row + (size_t)ox * a->out_c;
        for (int32_t oc = 0; oc < a->out_c; ++oc) {
            const int32_t c = oc / mult;
            int32_t acc = a->bias[oc];
            for (int32_t ky = 0; ky < a->k_h; ++ky) {
                for (int32_t kx = 0; kx < a->k_w; ++kx) {
                    const int32_t col = ox * a->stride_w + kx * a->dil_w;
                    const int32_t x = rows[ky][(size_t)col * stride + c];
                    acc += (x + a->input_offset) * th_dw_q15_weight(a, oc, ky * a->k_w + kx);
                }
            }
            out_px[oc] = th_conv_output(a, acc, oc);
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

/* the 4 accumulators of channels c..c+3 -> 4 output bytes (requantised, offset, clamped) */
static inline __attribute__((always_inline)) uint32_t th_dw_output_s8x4(const th_conv_args *a, int32_t c, int32_t acc0,
                                                                  int32_t acc1, int32_t acc2, int32_t acc3,
                                                                  uint32_t lo4, uint32_t hi4) {
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
    return th_clamp_s8x4(th_pack_s8x4(th_ssat8(acc0 + offset), th_ssat8(acc1 + offset), th_ssat8(acc2 + offset),
                                      th_ssat8(acc3 + offset)),
                         lo4, hi4);
}

#if TINYHIL_DSP_ASM
/* TH_DW_TAP with its loads inside the asm: the compiler otherwise hoists all 18 weight loads of
 * the unrolled window and spills them. ADDRESS: the input word's addressing mode. */
#define TH_DW_TAP_AT(ADDRESS, ptr_, step_, wp_, WORD)                                                   \
    do {                                                                                        \
        uint32_t xv_, xe_, we_, wo_;                                                            \
        __asm__("ldr    %[xv], " ADDRESS "\n\t"                                                 \
                "ldrd   %[we], %[wo], [%[w], #" #WORD " * 4]\n\t"                              \
                "sxtab16 %[xe], %[off], %[xv]\n\t"                                              \
                "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"                                      \
                "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                        \
                "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                        \
                "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"                                        \
                "smlatt %[a3], %[xv], %[wo], %[a3]"                                              \
                : [a0] "+r"(acc0), [a1] "+r"(acc1), [a2] "+r"(acc2), [a3] "+r"(acc3), [xv] "=&r"(xv_), \
                  [xe] "=&r"(xe_), [we] "=&r"(we_), [wo] "=&r"(wo_)                             \
                : [p] "r"(ptr_), [s] "r"(step_), [w] "r"(wp_), [off] "r"(offsets)                     \
                : "memory");                                                                    \
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
static inline void th_dw_row_dsp_3x3(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
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

/* Depth multiplier 1: 4 channels per step, the taps of a 3-wide filter row unrolled. */
static inline void th_dw_row_dsp(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
    const int32_t channels = a->in_c, stride = th_round_up4(channels), taps = a->k_h * a->k_w;
    const int32_t k_h = a->k_h, k_w = a->k_w, tap_step = a->dil_w * stride, px_step = a->stride_w * stride;
    const uint32_t offsets = ((uint32_t)(uint16_t)a->input_offset << 16) | (uint16_t)a->input_offset;
    const uint32_t lo4 = th_splat_s8x4(a->act_min), hi4 = th_splat_s8x4(a->act_max);
    for (int32_t c = 0; c < channels; c += 4) {
        const uint32_t *w_group = (const uint32_t *)(const void *)(a->filter_q15 + (size_t)(c >> 2) * taps * 4);
        const int32_t *bias = a->bias + c;
        int8_t *out_px = out_row + c;
        for (int32_t ox = 0; ox < a->out_w; ++ox, out_px += channels) {
            int32_t acc0 = bias[0], acc1 = bias[1], acc2 = bias[2], acc3 = bias[3];
            const uint32_t *w = w_group;
            for (int32_t ky = 0; ky < k_h; ++ky) {
                const int8_t *x = rows[ky] + (size_t)ox * px_step + c;
                if (k_w == 3) {
                    TH_DW_TAP(x, w);
                    TH_DW_TAP(x + tap_step, w + 2);
                    TH_DW_TAP(x + 2 * tap_step, w + 4);
                    w += 6;
                    continue;
                }
                for (int32_t kx = 0; kx < k_w; ++kx, x += tap_step, w += 2) {
                    TH_DW_TAP(x, w);
                }
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
#endif


/* One output row from the k_h ring rows of its window: the DSP paths where they apply, else portable. */
static inline void th_dw_row(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row) {
#if TINYHIL_USE_DSP
    if (a->depth_multiplier == 1) {
        const int32_t unrolled = a->k_h == 3 && a->k_w == 3 && a->dil_w == 1 && a->in_c % 4 == 0;
        (unrolled ? th_dw_row_dsp_3x3 : th_dw_row_dsp)(a, rows, out_row);
        return;
    }
#endif
    th_dw_row_portable(a, rows, out_row);
}

#endif
