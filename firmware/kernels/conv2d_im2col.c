/* CONV_2D int8, any kernel size / stride / dilation / padding, as im2col + the matrix product of
 * tinyhil_matmul.h: the optimised twin of conv2d.c, checked by the same tests. This is also the path of
 * the few-input-channel convs (the stems over 1-3 channels): the gathered row is the whole
 * k_h x k_w x in_c patch, so the product's inner dimension is long even when in_c is 1.
 *
 * The host folds the input offset into the bias (bias + o * sum(w), as for 1x1), so a padded tap
 * must contribute x * w with x = the input zero point (-input_offset): (zp + o) * w = 0, exactly
 * TFLite's padding. The gathered row is therefore filled with the zero point where the window
 * leaves the image. Scratch: K rounded up to 4 bytes for the gathered row, plus 4x that for the
 * q15 blocks of two pixels (DSP path).
 *
 * Per output pixel the gather is the costly part next to the product when the output has few
 * channels (a stem of 8): windows wholly inside the image (all but the border) are copied a word at a
 * time, one run of k_w * in_c bytes per kernel row, with no call and no per-tap test; the border
 * windows take the general per-tap gather. The row's bytes past K (up to the multiple of 4) stay zero,
 * so the q15 widening reads whole words. */
#include "tinyhil_matmul.h"

/* n bytes, a word at a time (unaligned word access is fine on the M7) */
static inline void copy_s8(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v = th_read_s8x4(src + i);
        TH_OPAQUE(v); /* a word in a register: not a loop for GCC to turn into a memmove call */
        th_write_s8x4(dst + i, v);
    }
    for (; i < n; ++i) {
        int32_t b = src[i];
        TH_OPAQUE(b);
        dst[i] = (int8_t)b;
    }
}

/* n bytes of v (a few: the zero-point taps of a border window's row) */
static inline void fill_s8(int8_t *dst, int8_t v, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        int32_t b = v;
        TH_OPAQUE(b); /* not a loop for GCC to turn into a memset call */
        dst[i] = (int8_t)b;
    }
}

/* the window of a pixel wholly inside the image (dilation 1 in W): k_h runs of `run` bytes, `step`
 * bytes apart in the input (dil_h image rows), back to back in the row. When run >= 2, all runs but the
 * last are copied as whole words, the last word running up to min(3, run) bytes past the run: those bytes
 * land inside the next run (written next) and are read from the image row past the window's, which is
 * inside the input (the window has a row below); the last run is copied exactly. Runs of 1 byte (k x 1
 * over one channel) would run 3 bytes past into the q15 blocks: copied exactly. */
static inline void gather_inside(const int8_t *restrict window, int32_t step, int32_t k_h, int32_t run,
                                 int8_t *restrict row) {
    int32_t ky = 0;
    if (run < 2) {
        for (; ky + 1 < k_h; ++ky, row += run, window += step) {
            *row = *window;
        }
    }
    for (; ky + 1 < k_h; ++ky, row += run, window += step) {
        int8_t *dst = row;
        const int8_t *src = window;
        for (const int8_t *end = window + run; src < end; src += 4, dst += 4) {
            uint32_t v = th_read_s8x4(src);
            TH_OPAQUE(v); /* a word in a register: not a loop for GCC to turn into a memmove call */
            th_write_s8x4(dst, v);
        }
    }
    copy_s8(row, window, run);
}

/* the K = k_h * k_w * in_c inputs under output pixel (oy, ox), in the filter's [ky][kx][ic] order */
static void gather(const th_conv_args *a, const int8_t *in_b, int32_t oy, int32_t ox, int8_t *row) {
    const int32_t in_c = a->in_c, y0 = oy * a->stride_h - a->pad_h, x0 = ox * a->stride_w - a->pad_w;
    const int8_t pad = (int8_t)(-a->input_offset);
    const int32_t run = a->k_w * in_c;
    const int32_t whole_rows = a->dil_w == 1 && x0 >= 0 && x0 + a->k_w <= a->in_w;
    for (int32_t ky = 0; ky < a->k_h; ++ky, row += run) {
        const int32_t iy = y0 + ky * a->dil_h;
        if (iy < 0 || iy >= a->in_h) {
            memset(row, pad, (size_t)run);
            continue;
        }
        const int8_t *in_row = in_b + (size_t)iy * a->in_w * in_c;
        if (whole_rows) { /* the window's row is one contiguous run of the input */
            copy_s8(row, in_row + (size_t)x0 * in_c, run);
            continue;
        }
        if (a->dil_w == 1) { /* the taps inside the image are one run; the zero point either side of it */
            const int32_t first = th_max_i32(0, -x0), last = th_min_i32(a->k_w, a->in_w - x0);
            const int32_t before = first * in_c, inside = th_max_i32(last - first, 0) * in_c;
            fill_s8(row, pad, before);
            copy_s8(row + before, in_row + (size_t)(x0 + first) * in_c, inside);
            fill_s8(row + before + inside, pad, run - before - inside);
            continue;
        }
        for (int32_t kx = 0; kx < a->k_w; ++kx) {
            const int32_t ix = x0 + kx * a->dil_w;
            if (ix < 0 || ix >= a->in_w) {
                memset(row + kx * in_c, pad, (size_t)in_c);
            } else {
                copy_s8(row + kx * in_c, in_row + (size_t)ix * in_c, in_c);
            }
        }
    }
}

/* Walks the output pixels in order, gathering each one's window into `row`: the interior windows by
 * gather_inside (a pointer stepped along the row, one unsigned compare for the column range), the border
 * ones by gather. */
typedef struct {
    const th_conv_args *a;
    const int8_t *in_b;
    int32_t oy, ox;
    int32_t y_lo, y_hi;     /* the output rows whose windows are inside in y (inclusive; y_hi < y_lo: none) */
    int32_t x_lo;           /* the first output column whose window is inside in x */
    uint32_t x_span;        /* the last such column - x_lo */
    int32_t x_base;         /* this row: ox's window is inside iff (unsigned)(ox - x_base) <= x_span, so x_lo on a
                             * row inside in y, and NO_COLUMN (every difference above any span) elsewhere */
    const int8_t *window;   /* the input under pixel (oy, x_lo), valid on rows inside in y */
    int32_t step, run, pixel_step;
} pixel_walk;

static inline int32_t ceil_div(int32_t n, int32_t d) { return n <= 0 ? 0 : (n + d - 1) / d; }

#define NO_COLUMN (-(1 << 30)) /* ox - NO_COLUMN >= 2^30 exceeds any span */

/* the row-dependent part of the walk, for row oy */
static void walk_row(pixel_walk *w) {
    const th_conv_args *a = w->a;
    const int32_t inside = w->oy >= w->y_lo && w->oy <= w->y_hi && w->x_lo != NO_COLUMN;
    w->x_base = inside ? w->x_lo : NO_COLUMN;
    if (inside) {
        const int32_t y0 = w->oy * a->stride_h - a->pad_h, x0 = w->x_lo * a->stride_w - a->pad_w;
        w->window = w->in_b + ((size_t)y0 * a->in_w + x0) * a->in_c;
    }
}

static void walk_start(pixel_walk *w, const th_conv_args *a, const int8_t *in_b) {
    w->a = a;
    w->in_b = in_b;
    w->oy = w->ox = 0;
    /* x0 = ox * stride - pad >= 0 and x0 + (k - 1) * dil <= in - 1, the same in y */
    const int32_t last_x = a->in_w - 1 - (a->k_w - 1) * a->dil_w + a->pad_w;
    const int32_t last_y = a->in_h - 1 - (a->k_h - 1) * a->dil_h + a->pad_h;
    const int32_t x_lo = ceil_div(a->pad_w, a->stride_w);
    const int32_t x_hi = a->dil_w == 1 && last_x >= 0 ? th_min_i32(last_x / a->stride_w, a->out_w - 1) : -1;
    w->x_lo = x_hi >= x_lo ? x_lo : NO_COLUMN; /* NO_COLUMN: no column is inside */
    w->x_span = x_hi >= x_lo ? (uint32_t)(x_hi - x_lo) : 0;
    w->y_lo = ceil_div(a->pad_h, a->stride_h);
    w->y_hi = last_y >= 0 ? th_min_i32(last_y / a->stride_h, a->out_h - 1) : -1;
    w->step = a->dil_h * a->in_w * a->in_c;
    w->run = a->k_w * a->in_c;
    w->pixel_step = a->stride_w * a->in_c;
    w->window = in_b;
    walk_row(w);
}

static inline void walk_gather(pixel_walk *w, int8_t *row) {
    const th_conv_args *a = w->a;
    const uint32_t column = (uint32_t)(w->ox - w->x_base);
    if (column <= w->x_span) {
        gather_inside(w->window + (size_t)column * w->pixel_step, w->step, a->k_h, w->run, row);
    } else {
        gather(a, w->in_b, w->oy, w->ox, row);
    }
    if (++w->ox == a->out_w) {
        w->ox = 0;
        ++w->oy;
        walk_row(w);
    }
}

#if TINYHIL_USE_DSP
/* q15 blocks of one gathered row (`blocks` whole words: the bytes past K are zero) at every 4th word of dst */
static inline void q15_row(const int8_t *restrict row, int32_t blocks, uint32_t *restrict dst) {
    int32_t b = 0;
    for (; b + 2 <= blocks; b += 2, dst += 8) { /* two blocks a trip: one 64-bit load, two 64-bit stores */
        const uint32_t v0 = th_read_s8x4(row + 4 * b), v1 = th_read_s8x4(row + 4 * b + 4);
        dst[0] = th_sxtb16(v0);
        dst[1] = th_sxtb16_ror8(v0);
        dst[4] = th_sxtb16(v1);
        dst[5] = th_sxtb16_ror8(v1);
    }
    if (b < blocks) {
        const uint32_t v = th_read_s8x4(row + 4 * b);
        dst[0] = th_sxtb16(v);
        dst[1] = th_sxtb16_ror8(v);
    }
}
#endif

void th_conv2d_im2col_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch) {
    const int32_t k = a->k_h * a->k_w * a->in_c, k_padded = th_round_up4(k);
    const int32_t out_c = a->out_c, pixels = a->out_h * a->out_w;
    int8_t *row = scratch;
    memset(row + k, 0, (size_t)(k_padded - k)); /* never written by the gathers */
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * a->in_h * a->in_w * a->in_c;
        int8_t *out_b = output + (size_t)b * pixels * out_c;
        pixel_walk walk;
        walk_start(&walk, a, in_b);
        int32_t p = 0;
#if TINYHIL_USE_DSP
        uint32_t *xq = (uint32_t *)(void *)(scratch + k_padded);
        const int32_t blocks = k_padded / 4;
        th_pair_loop loop; /* the product's per-layer state, made once */
        th_matmul_2px_prepare(a, xq, blocks, &loop);
        for (; p + 2 <= pixels; p += 2) {
            walk_gather(&walk, row);
            q15_row(row, blocks, xq);
            walk_gather(&walk, row);
            q15_row(row, blocks, xq + 2);
            int8_t *y0 = out_b + (size_t)p * out_c;
            th_matmul_2px_q15_prepared(a, &loop, y0, y0 + out_c);
        }
        if (p < pixels) { /* an odd last pixel: its blocks twice, the one product stored once per half */
            walk_gather(&walk, row);
            q15_row(row, blocks, xq);
            q15_row(row, blocks, xq + 2);
            th_matmul_1px_q15_prepared(a, &loop, out_b + (size_t)p * out_c);
            ++p;
        }
#endif
        for (; p < pixels; ++p) {
            walk_gather(&walk, row);
            th_matmul_1px(a, row, k, out_b + (size_t)p * out_c);
        }
    }
}
