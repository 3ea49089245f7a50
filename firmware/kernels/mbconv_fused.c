/* A fused inverted-residual block: 1x1 expansion [-> activation] -> k x k depthwise [-> activation]
 * [-> 1x1 projection [+ residual ADD]], computed a band of rows at a time, so the expanded tensor (and,
 * with a projection, the depthwise output) never exists whole. Without a projection (a block whose
 * depthwise output feeds squeeze-excitation, which needs the whole tensor) the block ends at the
 * depthwise and writes its rows to the output.
 *
 * The depthwise's ring of k_h zero-point-padded rows (tinyhil_depthwise.h) is filled by the expansion
 * itself: an expanded row is computed straight into its ring slot the first time a window needs it,
 * and once only (the ring keeps rows later windows reuse). Each output row then runs the depthwise row
 * into a one-row buffer, the projection over that row, and the residual ADD over it. Every element is
 * computed by the same per-pixel / per-row arithmetic as the unfused kernels (th_matmul_* of
 * tinyhil_matmul.h, th_depthwise_row_s8, th_conv2d_1x1_s8, th_add_s8 and the activation kernels on one
 * row), so the bytes are the same.
 *
 * Without an expansion (a depthwise-separable block, or expansion 1) the ring is filled from the
 * input, as the plain depthwise does.
 *
 * In place (output == input, stride 1, same shape): output row y is written after the rows up to
 * y + pad_h have been expanded, and the residual reads its row before the row is written, so no input
 * row is overwritten while still needed (the generator allows it only when pad_h < k_h).
 *
 * Squeeze-excitation after the depthwise (a->se_mul): its gate needs the whole depthwise output pooled,
 * so the block runs twice: the first pass makes every depthwise row once and sums it per channel (the
 * same integer sum MEAN takes), the pooled vector goes through the SE's own ops, and the second pass
 * makes the rows again (the expansion and the depthwise recomputed), scales each by the gate and
 * projects it. The expanded and the depthwise tensors still never exist, for the cost of the block's
 * expansion and depthwise MACs twice (and its upstream blocks' in a cascade, which it may end); the
 * planner takes it only where that lowers the peak.
 *
 * A cascade (a->upstream): this block's input rows come from the fused block before it, which makes
 * each row when this block first needs it, into a one-row buffer (rows are asked for in order, each
 * once, because the ring keeps every row it still needs), so the tensor between the two blocks never
 * exists either: MCUNetV2's patch-based early stages with full-width row bands, and no recomputation.
 * The upstream block has its own ring; a downstream block has no residual (it would need its input's
 * rows again).
 *
 * With a->depthwise_pairs (the planner's choice where it does not raise the arena) the ring is the q15 ring of
 * depthwise_conv2d_pairs.c and the depthwise row its th_dwp_row (one SMLAD for two taps, two pixels per step):
 * an expanded row is made into an int8 row at the expansion's output stride, then widened into its slot with
 * the input offset added, as the plain pair kernel widens its input rows.
 *
 * On the int8 ring (where the q15 ring would raise the arena), a 3x3 depthwise with strip_channels runs the same
 * pair rows on q15 strips: each window's rows widened a few channels at a time into the q15 blocks' scratch, which
 * is free between the expansion and the projection (each input row widened k_h / stride_h times, not once: no
 * arena for it).
 *
 * Scratch (offsets from the generator): the ring | [the expanded row (q15 ring)] | the depthwise row | the projected row (residual
 * only) | the q15 blocks of two pixels (DSP path) | [SE: channel sums, pooled, squeezed, gate before and
 * after LOGISTIC] | [the upstream block's scratch | its output row]. */
#include "tinyhil_depthwise.h"

/* An activation over `size` bytes (in place allowed), with the row's size in a copy of its arguments. */
static void activate(const th_fused_activation *act, const int8_t *input, int8_t *output, int32_t size) {
    switch (act->kind) {
    case TH_ACT_LEAKY_RELU: {
        th_leaky_relu_args a = *(const th_leaky_relu_args *)act->args;
        a.size = size;
        th_leaky_relu_s8(&a, input, output);
        break;
    }
    case TH_ACT_HARD_SWISH: {
        th_hard_swish_args a = *(const th_hard_swish_args *)act->args;
        a.size = size;
        th_hard_swish_s8(&a, input, output);
        break;
    }
    case TH_ACT_LOGISTIC: {
        th_logistic_args a = *(const th_logistic_args *)act->args;
        a.size = size;
        th_logistic_s8(&a, input, output);
        break;
    }
    default:
        break;
    }
}

/* `pixels` pixels of input row src expanded (and activated) into dst, one pixel every `stride` bytes. */
static void expand_pixels(const th_conv_args *e, const th_fused_activation *act, const int8_t *src, int8_t *dst,
                          int32_t stride, int32_t pixels, uint32_t *xq) {
    const int32_t in_c = e->in_c;
    int32_t p = 0;
#if TINYHIL_USE_DSP
    th_pair_loop loop; /* the product's state, made once per row */
    th_matmul_2px_prepare(e, xq, th_round_up4(in_c) / 4, &loop);
    for (; p + 2 <= pixels; p += 2) {
        th_q15_pixel_pair(src + (size_t)p * in_c, src + (size_t)(p + 1) * in_c, in_c, xq);
        th_matmul_2px_q15_prepared(e, &loop, dst + (size_t)p * stride, dst + (size_t)(p + 1) * stride);
    }
    if (p < pixels) {
        th_q15_pixel_pair(src + (size_t)p * in_c, src + (size_t)p * in_c, in_c, xq);
        th_matmul_1px_q15_prepared(e, &loop, dst + (size_t)p * stride);
        ++p;
    }
#else
    (void)xq;
#endif
    for (; p < pixels; ++p) {
        th_matmul_1px(e, src + (size_t)p * in_c, in_c, dst + (size_t)p * stride);
    }
    if (act->kind == TH_ACT_NONE) {
        return;
    }
    const int32_t hidden = e->out_c;
    if (hidden == stride) { /* the pixels are one contiguous run */
        activate(act, dst, dst, pixels * hidden);
        return;
    }
    for (p = 0; p < pixels; ++p) {
        activate(act, dst + (size_t)p * stride, dst + (size_t)p * stride, hidden);
    }
}

/* Input row `src` (NULL: above / below the image) expanded into int8 ring row `row`: the image's columns at the
 * ring's channel stride, the columns left and right of it (and rows above / below the image) the depthwise
 * input's zero point. */
static void expand_row(const th_conv_args *e, const th_fused_activation *act, const th_row_ring *ring,
                       const th_conv_args *d, const int8_t *src, int8_t *row, uint32_t *xq) {
    const int32_t stride = ring->channel_stride;
    const int8_t pad = (int8_t)(-d->input_offset);
    if (src == NULL) { /* above / below the image */
        memset(row, pad, (size_t)ring->padded_w * stride);
        return;
    }
    const int32_t first = d->pad_w, last = th_min_i32(ring->padded_w, d->pad_w + d->in_w);
    memset(row, pad, (size_t)first * stride);
    memset(row + (size_t)last * stride, pad, (size_t)(ring->padded_w - last) * stride);
    expand_pixels(e, act, src, row + (size_t)first * stride, stride, last - first, xq);
}

#define TH_MAX_CASCADE 4

/* One block of a (possibly one-block) cascade, and where its input rows come from. */
typedef struct th_stage {
    const th_mbconv_args *a;
    union {
        th_row_ring s8;        /* the depthwise's int8 ring */
        th_dwp_ring q15;       /* a->depthwise_pairs: its q15 ring */
    } ring;
    th_conv_args project;      /* the projection of one row: th_conv2d_1x1_s8 over out_w pixels */
    th_add_args add;           /* the residual ADD of one row */
    const int8_t *input;       /* the input tensor (first block), or NULL: rows from `upstream` */
    const int8_t *skip;
    struct th_stage *upstream;
    int8_t *scratch, *out_row; /* out_row: the one output row of a block feeding another */
    int32_t rows_done;         /* output rows made so far */
} th_stage;

static void stage_ring_init(th_stage *s) {
    if (s->a->depthwise_pairs) {
        th_dwp_ring_init(&s->ring.q15, s->a->depthwise, s->scratch);
    } else {
        th_dw_ring_init(&s->ring.s8, s->a->depthwise, s->scratch);
    }
}

static void stage_init(th_stage *s, const th_mbconv_args *a, int8_t *scratch) {
    const th_conv_args *d = a->depthwise;
    s->a = a;
    s->scratch = scratch;
    s->rows_done = 0;
    stage_ring_init(s);
    if (a->project) {
        s->project = *a->project;
        s->project.batches = 1;
        s->project.in_h = s->project.out_h = 1;
    }
    if (a->residual) {
        s->add = *a->residual;
        s->add.size = d->out_w * a->project->out_c;
    }
}

static const int8_t *stage_output_row(th_stage *s, int32_t oy);

/* Input row iy of the stage's block: a row of its input tensor, or its upstream block's output row iy
 * (made now); NULL above / below the image. */
static const int8_t *stage_input_row(th_stage *s, int32_t iy) {
    const th_conv_args *d = s->a->depthwise;
    if (iy < 0 || iy >= d->in_h) {
        return NULL;
    }
    if (s->upstream) {
        return stage_output_row(s->upstream, iy);
    }
    const int32_t in_c = s->a->expand ? s->a->expand->in_c : d->in_c;
    return s->input + (size_t)iy * d->in_w * in_c;
}

/* The k_h q15 ring rows of output row oy's window (depthwise_conv2d_pairs.c's ring): a fresh row is expanded into
 * the int8 expanded row (only the columns the ring holds) and widened into its slot with the input offset added. */
static void stage_q15_window(th_stage *s, int32_t oy, const int16_t **rows) {
    const th_mbconv_args *a = s->a;
    const th_conv_args *d = a->depthwise;
    for (int32_t ky = 0; ky < d->k_h; ++ky) {
        const int32_t iy = oy * d->stride_h - d->pad_h + ky;
        const int32_t slot = th_dwp_ring_slot(d, iy, ky);
        if (s->ring.q15.held[slot] != iy) {
            const int8_t *src = stage_input_row(s, iy);
            if (src != NULL && a->expand) {
                int8_t *expanded = s->scratch + a->expanded_row_offset;
                const int32_t pixels = th_min_i32(d->in_w, s->ring.q15.width - d->pad_w);
                expand_pixels(a->expand, &a->expand_act, src, expanded, d->in_c, pixels,
                              (uint32_t *)(void *)(s->scratch + a->q15_offset));
                src = expanded;
            }
            th_dwp_ring_fill(&s->ring.q15, d, slot, iy, src);
        }
        rows[ky] = th_dwp_slot_row(&s->ring.q15, d, slot);
    }
}

/* The k_h int8 ring rows of output row oy's window, a fresh row expanded straight into its slot. */
static void stage_s8_window(th_stage *s, int32_t oy, const int8_t **rows) {
    const th_mbconv_args *a = s->a;
    const th_conv_args *d = a->depthwise;
    uint32_t *xq = (uint32_t *)(void *)(s->scratch + a->q15_offset);
    for (int32_t ky = 0; ky < d->k_h; ++ky) {
        const int32_t iy = oy * d->stride_h - d->pad_h + ky;
        int fresh;
        int8_t *row = th_dw_ring_slot(&s->ring.s8, d, iy, ky, &fresh);
        if (fresh && a->expand) {
            expand_row(a->expand, &a->expand_act, &s->ring.s8, d, stage_input_row(s, iy), row, xq);
        } else if (fresh) {
            th_dw_ring_fill(&s->ring.s8, d, stage_input_row(s, iy), row);
        }
        rows[ky] = row;
    }
}

/* The depthwise row from its int8 window on the pair kernel's rows: strip_channels channels at a time widened to
 * q15 strips (in the q15 blocks' scratch, free between the expansion and the projection). */
static void stage_strips_row(const th_stage *s, const int8_t *const *window, int8_t *dw_row) {
    const th_mbconv_args *a = s->a;
    const th_conv_args *d = a->depthwise;
    const int32_t width = th_dwp_ring_width(d), group = a->strip_channels;
    int16_t *strips = (int16_t *)(void *)(s->scratch + a->q15_offset);
    const int16_t *planes[3]; /* 3x3 only (scratch.strip_channels) */
    for (int32_t c = 0; c < d->in_c; c += group) {
        const int32_t count = th_min_i32(group, d->in_c - c);
        for (int32_t ky = 0; ky < d->k_h; ++ky) {
            int16_t *strip = strips + (size_t)ky * group * width;
            th_dwp_widen(window[ky] + c, s->ring.s8.channel_stride, s->ring.s8.padded_w, count, d->input_offset, strip,
                         width);
            planes[ky] = strip;
        }
        a->dw_channels(d, width, planes, dw_row, c, count);
    }
    if (d->table) { /* a folded activation */
        th_table_lookup_s8(d->table, d->out_w * d->out_c, dw_row, dw_row);
    }
}

/* The depthwise row oy of the stage's block (after its activation) into dw_row. */
static void stage_depthwise_row(th_stage *s, int32_t oy, int8_t *dw_row) {
    const th_mbconv_args *a = s->a;
    const th_conv_args *d = a->depthwise;
    union { /* one window's ring rows (one array on the stack, which a cascade nests) */
        const int8_t *s8[TH_DEPTHWISE_MAX_KERNEL_H];
        const int16_t *q15[TH_DEPTHWISE_MAX_KERNEL_H];
    } rows;
    if (a->depthwise_pairs) {
        stage_q15_window(s, oy, rows.q15);
        th_dwp_row(d, a->dw_channels, s->ring.q15.width, rows.q15, dw_row);
    } else {
        stage_s8_window(s, oy, rows.s8);
        if (a->strip_channels) {
            stage_strips_row(s, rows.s8, dw_row);
        } else {
            th_depthwise_row_s8(d, rows.s8, dw_row);
        }
    }
    activate(&a->depthwise_act, dw_row, dw_row, d->out_w * d->out_c);
}

/* Output row oy of the stage's block into out_row (skip_row: the residual operand's row, or NULL). */
static void stage_row(th_stage *s, int32_t oy, int8_t *out_row, const int8_t *skip_row) {
    const th_mbconv_args *a = s->a;
    int8_t *q15 = s->scratch + a->q15_offset;
    int8_t *dw_row = a->project ? s->scratch + a->dw_row_offset : out_row;
    stage_depthwise_row(s, oy, dw_row);
    if (a->se_mul) { /* the second pass: the row scaled by the gate (in place, as the unfused MUL may) */
        th_mul_args mul = *a->se_mul;
        mul.outer = a->depthwise->out_w;
        th_mul_s8(&mul, dw_row, s->scratch + a->se_gate_offset, dw_row);
    }
    if (!a->project) {
        return;
    }
    if (!a->residual) {
        th_conv2d_1x1_s8(&s->project, dw_row, out_row, q15);
        return;
    }
    int8_t *projected = s->scratch + a->project_row_offset;
    th_conv2d_1x1_s8(&s->project, dw_row, projected, q15);
    th_add_s8(&s->add, a->projection_is_input1 ? projected : skip_row, a->projection_is_input1 ? skip_row : projected,
              out_row);
}

/* Squeeze-excitation's first pass: every depthwise row made once and summed per channel, the pooled
 * vector through the two 1x1 convs and LOGISTIC into the gate; then the ring starts over. */
static void stage_squeeze_excitation(th_stage *s) {
    const th_mbconv_args *a = s->a;
    const th_conv_args *d = a->depthwise;
    const int32_t channels = d->out_c;
    int32_t *sums = (int32_t *)(void *)(s->scratch + a->se_sums_offset);
    int8_t *dw_row = s->scratch + a->dw_row_offset, *q15 = s->scratch + a->q15_offset;
    memset(sums, 0, (size_t)channels * sizeof sums[0]);
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        stage_depthwise_row(s, oy, dw_row);
        for (int32_t x = 0; x < d->out_w; ++x) {
            const int8_t *px = dw_row + (size_t)x * channels;
            for (int32_t c = 0; c < channels; ++c) {
                sums[c] += px[c];
            }
        }
    }
    int8_t *pooled = s->scratch + a->se_pooled_offset, *reduced = s->scratch + a->se_reduced_offset;
    int8_t *pre = s->scratch + a->se_pre_offset;
    th_mean_from_sums_s8(a->se_mean, sums, pooled);
    th_conv2d_1x1_s8(a->se_reduce, pooled, reduced, q15);
    th_conv2d_1x1_s8(a->se_expand, reduced, pre, q15);
    if (a->se_gate) { /* else the LOGISTIC is folded into se_expand, which wrote the gate (pre == gate) */
        th_logistic_s8(a->se_gate, pre, s->scratch + a->se_gate_offset);
    }
    for (th_stage *t = s; t != NULL; t = t->upstream) { /* the second pass makes every row again */
        stage_ring_init(t);
        t->rows_done = 0;
    }
}

/* A block feeding another: its output row oy, made now (the downstream ring asks for rows in order,
 * each once). */
static const int8_t *stage_output_row(th_stage *s, int32_t oy) {
    const th_mbconv_args *a = s->a;
    const size_t out_row_bytes = (size_t)a->depthwise->out_w * (a->project ? a->project->out_c : a->depthwise->out_c);
    while (s->rows_done <= oy) {
        const int32_t y = s->rows_done++;
        stage_row(s, y, s->out_row, s->skip ? s->skip + (size_t)y * out_row_bytes : NULL);
    }
    return s->out_row;
}

void th_mbconv_fused_s8(const th_mbconv_args *a, const int8_t *input, const int8_t *skip, int8_t *output,
                        int8_t *scratch) {
    th_stage stages[TH_MAX_CASCADE];
    int32_t n = 0;
    for (const th_mbconv_args *b = a; b != NULL && n < TH_MAX_CASCADE; b = b->upstream, ++n) {
        stage_init(&stages[n], b, scratch);
        stages[n].input = NULL;
        stages[n].skip = NULL;
        stages[n].upstream = NULL;
        if (n > 0) {
            stages[n - 1].upstream = &stages[n];
            stages[n].out_row = stages[n - 1].scratch + stages[n - 1].a->upstream_row_offset;
        }
        if (b->upstream) {
            scratch += b->upstream_scratch_offset;
        }
    }
    stages[n - 1].input = input; /* the first block of the cascade reads the tensors */
    stages[n - 1].skip = skip;
    const th_conv_args *d = a->depthwise;
    const size_t out_row_bytes = (size_t)d->out_w * (a->project ? a->project->out_c : d->out_c);
    th_stage *last = &stages[0];
    if (a->se_mul) { /* the last block of a cascade only (the generator's rule): its upstream blocks run twice */
        stage_squeeze_excitation(last);
    }
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int8_t *skip_row = last->skip ? last->skip + (size_t)oy * out_row_bytes : NULL;
        stage_row(last, oy, output + (size_t)oy * out_row_bytes, skip_row);
    }
}
