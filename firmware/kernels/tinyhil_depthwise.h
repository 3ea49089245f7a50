/* The row ring of DEPTHWISE_CONV_2D int8 and its per-row arithmetic (th_depthwise_row_s8, in
 * depthwise_conv2d.c), shared by the depthwise kernel and the fused inverted-residual block
 * (mbconv_fused.c), so both give the same bytes by construction.
 *
 * The input rows an output row needs sit in a ring of k_h rows, padded left and right with the input
 * zero point, and rows above / below the image are all zero point: a padded tap then adds
 * (zp + input_offset) * w = 0, exactly TFLite's padding, so every output pixel runs the full window
 * with no bounds checks. Ring rows keep each pixel's channels at a 4-byte stride. */
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

/* One pixel of in_c < stride channels into a ring row, the rest of its stride padded. For 1-3
 * channels (a grayscale or RGB stem) one word built byte by byte: memcpy and memset calls of 1-3
 * bytes cost ~40 instructions a pixel. */
static inline void th_dw_pixel_fill(int8_t *dst, const int8_t *src, int32_t in_c, int32_t stride, int8_t pad) {
    if (stride == 4) {
        uint32_t v = 0x01010101u * (uint8_t)pad;
        for (int32_t k = 0; k < in_c; ++k) {
            v = (v & ~(0xFFu << (8 * k))) | ((uint32_t)(uint8_t)src[k] << (8 * k));
        }
        th_write_s8x4(dst, v);
        return;
    }
    memcpy(dst, src, (size_t)in_c);
    memset(dst + in_c, pad, (size_t)(stride - in_c));
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

/* One input row (src: its in_w pixels, or NULL for a row above / below the image) into a ring row,
 * zero-point padded left and right; all padding for NULL. */
static inline void th_dw_ring_fill(const th_row_ring *ring, const th_conv_args *a, const int8_t *src, int8_t *row) {
    const size_t row_bytes = (size_t)ring->padded_w * ring->channel_stride;
    const int8_t pad = (int8_t)(-a->input_offset);
    if (src == NULL) {
        memset(row, pad, row_bytes);
        return;
    }
    const int32_t in_c = a->in_c, stride = ring->channel_stride;
    const int32_t first = a->pad_w, last = th_min_i32(ring->padded_w, a->pad_w + a->in_w); /* image columns */
    memset(row, pad, (size_t)first * stride);
    if (in_c == stride) {
        memcpy(row + (size_t)first * stride, src, (size_t)(last - first) * in_c);
    } else if (in_c == 1) { /* a grayscale stem: each pixel one word, its byte over the padding */
        const uint32_t pad3 = 0x01010100u * (uint8_t)pad;
        for (int32_t col = first; col < last; ++col) {
            th_write_s8x4(row + (size_t)col * 4, pad3 | (uint8_t)src[col - first]);
        }
    } else {
        for (int32_t col = first; col < last; ++col) {
            th_dw_pixel_fill(row + (size_t)col * stride, src + (size_t)(col - first) * in_c, in_c, stride, pad);
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
        th_dw_ring_fill(ring, a, iy < 0 || iy >= a->in_h ? NULL : in_b + (size_t)iy * a->in_w * a->in_c, row);
    }
    return row;
}

/* One output row (out_w pixels) from the k_h ring rows of its window (depthwise_conv2d.c). */
void th_depthwise_row_s8(const th_conv_args *a, const int8_t *const *rows, int8_t *out_row);

/* The q15 ring of depthwise_conv2d_pairs.c, shared with the fused block (mbconv_fused.c): k_h slots of
 * in_c rows of th_dwp_ring_width columns, each the input with its offset added (padding 0), per channel. */
enum th_dwp_slot_state { TH_DWP_EMPTY, TH_DWP_ZERO, TH_DWP_IMAGE }; /* never filled, all 0, an image row */
typedef struct {
    int16_t *rows;
    int32_t width;                            /* th_dwp_ring_width */
    int32_t held[TH_DEPTHWISE_MAX_KERNEL_H];  /* input row in each slot */
    uint8_t state[TH_DEPTHWISE_MAX_KERNEL_H]; /* what the slot holds: th_dwp_slot_state */
} th_dwp_ring;

void th_dwp_ring_init(th_dwp_ring *ring, const th_conv_args *a, int8_t *scratch);

/* The slot of input row iy (filter row ky): with dilation 1, iy mod k_h keeps the rows later windows reuse. */
static inline int32_t th_dwp_ring_slot(const th_conv_args *a, int32_t iy, int32_t ky) {
    return a->dil_h == 1 ? (iy + a->pad_h) % a->k_h : ky;
}

static inline int16_t *th_dwp_slot_row(const th_dwp_ring *ring, const th_conv_args *a, int32_t slot) {
    return ring->rows + (size_t)slot * a->in_c * ring->width;
}

/* Input row iy (src: its in_w pixels of in_c channels, or NULL above / below the image) into `slot`. */
void th_dwp_ring_fill(th_dwp_ring *ring, const th_conv_args *a, int32_t slot, int32_t iy, const int8_t *src);

/* One output row (out_w pixels): every channel through `channels`, then a folded table (depthwise_conv2d_pairs.c). */
void th_dwp_row(const th_conv_args *a, th_dwp_channels_fn channels, int32_t width, const int16_t *const *rows,
                int8_t *out_row);
/* Channels [0, count) of `columns` int8 pixels (channel c of column x at src[x * stride + c]) into q15 planes of
 * `width` columns (channel c's at planes + c * width), the offset added, 0 from column `columns` on: an int8 ring
 * row widened a few channels at a time for th_dwp_channels_3x3 (the fused block's strips, mbconv_fused.c). */
void th_dwp_widen(const int8_t *src, int32_t stride, int32_t columns, int32_t count, int32_t offset, int16_t *planes,
                  int32_t width);

/* The folded requantisation records {bias, mult, K, e} of lower.depthwise_pairs_records (depthwise_conv2d_pairs.c's
 * file comment), shared by the pairs kernel and depthwise_conv2d.c's multiplier rows. */

/* record q -> the output byte as TFLite's MultiplyByQuantizedMultiplier: e = 0, {m, shift}; else {2m - 2^32, K} with
 * the right shift e (the portable rows) */
static inline int8_t th_dw_record_output(const th_conv_args *a, const int32_t *q, int32_t acc) {
    const int32_t e = q[3] & 0xFF;
    const int32_t m = e ? (int32_t)((uint32_t)q[1] >> 1) : q[1], shift = e ? -e : q[2];
    return th_clamp_s8(th_mbqm(acc, m, shift) + a->output_offset, a->act_min, a->act_max);
}

#if TINYHIL_USE_DSP
/* QADD: a + b saturated to int32 */
static inline int32_t th_dwp_qadd(int32_t a, int32_t b) {
#if TINYHIL_DSP_ASM
    int32_t result;
    __asm__("qadd %0, %1, %2" : "=r"(result) : "r"(a), "r"(b));
    return result;
#else
    const int64_t sum = (int64_t)a + b;
    return sum > INT32_MAX ? INT32_MAX : (sum < INT32_MIN ? INT32_MIN : (int32_t)sum);
#endif
}

/* accumulator -> output byte in int8 (the folded requantisation, a record with e > 0), unclamped */
static inline __attribute__((always_inline)) int32_t th_dwp_out_saturated(int32_t acc, const int32_t *q) {
    const int32_t high = th_smmlar(acc, q[1], acc);
    return th_ssat8(th_dwp_qadd(high + (high >> 31), q[2]) >> (q[3] & 0xFF));
}

/* the same, then (clamp) the activation */
static inline __attribute__((always_inline)) int8_t th_dwp_out(int32_t acc, const int32_t *q, int32_t clamp, int32_t lo,
                                                              int32_t hi) {
    int32_t v = th_dwp_out_saturated(acc, q);
    if (clamp) {
        v = v < lo ? lo : (v > hi ? hi : v);
    }
    return (int8_t)v;
}
#endif

#endif
