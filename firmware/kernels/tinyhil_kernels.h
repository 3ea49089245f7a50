/* tinyhil int8 kernels: exact TFLite int8 reference semantics, one op per .c file.
 * Shapes are NHWC. Each kernel takes one const argument struct filled in by the code generator. */
#ifndef TINYHIL_KERNELS_H
#define TINYHIL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_multiplier;            /* depthwise only */
    int32_t input_offset, output_offset; /* -input zero point, +output zero point */
    int32_t act_min, act_max;
    const int8_t *filter;                /* conv: [out_c][k_h][k_w][in_c]; 1x1 / im2col: tinyhil_matmul.h */
    const int16_t *filter_q15;           /* depthwise: [out_c / 4][k_h * k_w][4] (depthwise_conv2d.c) */
    const int32_t *bias;                 /* [out_c] or NULL; 1x1 / im2col: the folded bias, never NULL */
    const int32_t *out_multiplier;       /* [out_c] */
    const int32_t *out_shift;            /* [out_c] */
    const int32_t *requant;              /* NULL, or [out_c][2] {mult, shift - 1} for th_requantise_fast */
    const int8_t *table;                 /* NULL, or a folded activation's [256] table (tinyhil_table.h), applied
                                          * to each output row / pixel right after the kernel writes it */
} th_conv_args;

typedef struct {
    int32_t batches, in_features, out_features;
    int32_t input_offset, filter_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *filter;                /* [out_features][in_features]; _folded: interleaved rows (its file) */
    const int32_t *bias;                 /* [out_features] or NULL; _folded: the folded bias, never NULL */
    const int32_t *out_multiplier;       /* [out_features] */
    const int32_t *out_shift;            /* [out_features] */
    const int32_t *requant;              /* _folded: NULL, or [out_features][2] {mult, shift - 1} (then no multipliers) */
} th_fc_args;

/* Any broadcast of two operands (TFLM's BroadcastBinaryFunction4DSlow): the output is dense over dims[4]; operand k
 * steps strides_k[d] elements along dim d (0 where it repeats). tinyhil_broadcast.h walks it row by row. */
typedef struct {
    int32_t dims[4];
    int32_t strides1[4], strides2[4];
} th_broadcast;

typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    int32_t input2_inner;                         /* 0: input2 has input1's shape; else input2 is [input2_inner],
                                                   * repeated over input1's size / input2_inner rows */
    const th_broadcast *broadcast;                /* non-NULL: any other broadcast (then input2_inner is unused) */
} th_add_args;

/* SQUARED_DIFFERENCE (TFLM squared_difference.cc): each input + offset, << left_shift (7), rescaled to the larger
 * input scale, subtracted, squared in int32, rescaled to the output's, + zp_out; two tensors of one shape
 * (broadcast NULL) or any broadcast */
typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    const th_broadcast *broadcast;
} th_squared_difference_args;

typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} th_pool_args;

typedef struct {
    int32_t outer, reduce, inner;        /* input viewed as [outer][reduce][inner], mean over reduce */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;           /* already divided by the element count (TFLM's integer Mean) */
} th_mean_args;

typedef struct {
    int32_t in_dims[4], out_dims[4], before[4];
    int8_t pad_value;
} th_pad_args;

typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} th_softmax_args;

/* Elementwise activations (in place allowed: output[i] depends on input[i] only). `table` holds the
 * output for each input byte, indexed by the byte as uint8_t, computed on the host with the kernel's
 * own integer arithmetic: the fast path (tinyhil_table.h) looks it up, the portable path computes. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t identity_multiplier, identity_shift;  /* input scale / output scale (x >= zero point) */
    int32_t alpha_multiplier, alpha_shift;        /* |alpha| * input scale / output scale (x < zero point) */
    int32_t alpha_negative;                       /* 1 when alpha < 0: the scaled negative side changes sign */
    const int8_t *table;                          /* [256] */
} th_leaky_relu_args;

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t output_multiplier, output_exponent;   /* q15 multiplier of (input scale / 128) / output scale, exponent <= 0 */
    int32_t reluish_multiplier, reluish_exponent; /* q15 multiplier of (input scale / 128) / (3 / 32768) */
    const int8_t *table;                          /* [256] */
} th_hard_swish_args;

typedef struct {
    int32_t size;
    int32_t input_zero_point, input_range_radius; /* |x - zero point| >= radius saturates to -128 / 127 */
    int32_t input_multiplier, input_left_shift;   /* input scale * 2^27 (4 integer bits), left shift */
    const int8_t *table;                          /* [256] */
} th_logistic_args;

/* TANH: the same parameters as LOGISTIC (4 integer bits); the output is read as scale 1/128, zero point 0 */
typedef th_logistic_args th_tanh_args;

/* BATCH_MATMUL: per batch (b0, b1, b2: the output's dense batch dims), output [rows][cols] of lhs [rows][depth] times
 * rhs [depth][cols], each operand read through its strides (adj_x / adj_y; a batch stride 0 broadcasts) */
typedef struct {
    int32_t batch[3];
    int32_t lhs_batch_stride[3], rhs_batch_stride[3];
    int32_t rows, cols, depth;
    int32_t lhs_row_stride, lhs_k_stride, rhs_col_stride, rhs_k_stride;
    int32_t lhs_offset, rhs_offset, output_offset;
    int32_t output_multiplier, output_shift;
} th_batch_matmul_args;

/* ELU and FLOAT_UNARY (the converter's DEQUANTIZE -> float ops -> QUANTIZE): TFLM's table of a float function,
 * filled by the host as TFLM fills it; both paths index it */
typedef struct {
    int32_t size;
    const int8_t *table;                          /* [256] */
} th_lookup_args;

/* RSQRT (TFLM RsqrtEvalQuantized): 1 / sqrt(x - zp_in) by integer Newton steps, rescaled by
 * 1 / (sqrt(input scale) * output scale) */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t output_multiplier, output_shift;
    const int8_t *table;                          /* [256] */
} th_rsqrt_args;

/* RELU6: the input bytes clamped to [lower, upper], the input's zero point and quantised 6 (TFLM Relu6Quantized) */
typedef struct {
    int32_t size;
    int32_t lower, upper;
    const int8_t *table;                          /* [256]: only a conv that folds it in reads it */
} th_relu6_args;

/* QUANTIZE int8 -> int8 and RELU: zp_out + (x - zp_in) * (input scale / output scale), clamped to
 * [act_min, act_max]: -128..127 (TFLM Requantize), or from the output's zero point (TFLM ReluQuantized) */
typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    const int8_t *table;                          /* [256] */
} th_requantize_args;

/* TRANSPOSE_CONV: filter [out_c][k_h][k_w][in_c]; padding as the conv it inverts has (lower_transpose_conv) */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    const int8_t *filter;
    const int32_t *bias;                          /* [out_c] or NULL */
    const int32_t *multiplier, *shift;            /* [out_c] */
} th_transpose_conv_args;

/* TRANSPOSE, SLICE, STRIDED_SLICE: output element (i0..i5), in order, is input byte offset + sum(i_k * in_strides[k]) */
typedef struct {
    int32_t offset;                               /* the input byte of output element 0 (a slice's start) */
    int32_t dims[6];                              /* the output's dims, padded on the left with 1s */
    int32_t in_strides[6];                        /* the input stride (bytes, negative for a reversed axis) */
} th_strided_copy_args;

/* PRELU: input and output [outer][inner], alpha [inner] (per channel, or the input's whole shape with outer 1) */
typedef struct {
    int32_t outer, inner;
    int32_t input_offset, alpha_offset, output_offset;
    int32_t identity_multiplier, identity_shift;  /* input scale / output scale (x >= zero point) */
    int32_t alpha_multiplier, alpha_shift;        /* input scale * alpha scale / output scale (x < zero point) */
} th_prelu_args;

/* RESIZE_BILINEAR: rows[3 * y] = {lower row, upper row, upper weight in 1/1024}, cols likewise */
typedef struct {
    int32_t batches, in_h, in_w, out_h, out_w, channels;
    const int32_t *rows;                          /* [out_h][3] */
    const int32_t *cols;                          /* [out_w][3] */
} th_resize_bilinear_args;

/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) is input pixel (source_rows[y], source_cols[x]) */
typedef struct {
    int32_t batches, in_h, in_w, out_h, out_w, channels;
    const int32_t *source_rows;                   /* [out_h] */
    const int32_t *source_cols;                   /* [out_w] */
} th_resize_nearest_args;

/* REDUCE_MAX / REDUCE_MIN: input [outer][reduce][inner] -> output [outer][inner] */
typedef struct {
    int32_t outer, reduce, inner;
} th_reduce_args;

/* MAXIMUM / MINIMUM: input1 and output [outer][inner], input2 [inner] (outer 1: one shape; inner 1: a scalar) */
typedef struct {
    int32_t outer, inner;
} th_maximum_minimum_args;

/* CONCATENATION: the output as [outer][row_bytes]; input i, [outer][chunk_bytes[i]], fills bytes
 * sum(chunk_bytes[0..i)) .. + chunk_bytes[i] of each row (TFLM's int8 kernel: the quantisations are equal) */
typedef struct {
    int32_t outer, count, row_bytes;
    const int32_t *chunk_bytes;                   /* [count] */
} th_concatenation_args;

typedef struct {
    int32_t outer, inner;                         /* input1 and output as [outer][inner]; input2 is [inner], the
                                                   * same for every outer index (SE: pixels x channels), or
                                                   * outer = 1 for two tensors of one shape */
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    const int32_t *requant;                       /* NULL, or {mult, shift - 1} for th_requantise_fast */
    const th_broadcast *broadcast;                /* non-NULL: any other broadcast (outer and inner unused) */
} th_mul_args;

/* SWISH, tinyhil's own op for the converter's x * sigmoid(x) (LOGISTIC, then MUL by the same tensor;
 * fuse.fuse_swish): a function of each int8 element, so one table; the portable path runs the two ops'
 * reference arithmetic (their own argument structs) on chunks of the tensor. */
typedef struct {
    int32_t size;
    int32_t input_is_first;                       /* the MUL's first operand is x (else the sigmoid) */
    const th_logistic_args *logistic;
    const th_mul_args *mul;
    const int8_t *table;                          /* [256] */
} th_swish_args;


/* An elementwise activation run inside a fused block, one row at a time: which kernel, and its own
 * argument struct (whose size field the fused kernel replaces with the row's). */
#define TH_ACT_NONE 0
#define TH_ACT_LEAKY_RELU 1
#define TH_ACT_HARD_SWISH 2
#define TH_ACT_LOGISTIC 3
/* Channels [first, first + count) of one output row of a depthwise on the pair kernel's q15 rows of its window
 * (rows[ky]: channel first's plane), without a table: one per window (depthwise_conv2d_pairs.c), named by the
 * code generator in th_mbconv_args.dw_channels so that a firmware links only the loops its blocks run. */
typedef void (*th_dwp_channels_fn)(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                                   int32_t first, int32_t count);
void th_dwp_channels_3x3(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                         int32_t first, int32_t count);
void th_dwp_channels_5x5(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                         int32_t first, int32_t count);
void th_dwp_channels_7x7(const th_conv_args *a, int32_t width, const int16_t *const *rows, int8_t *out_row,
                         int32_t first, int32_t count);

typedef struct {
    int32_t kind;                        /* TH_ACT_* */
    const void *args;                    /* th_leaky_relu_args / th_hard_swish_args / th_logistic_args, or NULL */
} th_fused_activation;

/* A fused inverted-residual block (mbconv_fused.c): expansion [-> activation] -> depthwise [-> activation]
 * [-> projection [+ residual]], one output row at a time; the argument structs are the unfused ops' own. */
typedef struct th_mbconv_args {
    const struct th_mbconv_args *upstream; /* NULL, or a cascade: the fused block whose output rows are this
                                          * block's input, produced one at a time as this block needs them */
    int32_t upstream_scratch_offset, upstream_row_offset; /* its scratch and its one output row, in ours */
    const th_conv_args *expand;          /* 1x1 expansion (tinyhil_matmul.h layout), or NULL: the depthwise reads the input */
    th_fused_activation expand_act;      /* on the expanded rows */
    const th_conv_args *depthwise;       /* dilation 1 in H, depth multiplier 1 */
    th_fused_activation depthwise_act;   /* on the depthwise's rows */
    /* squeeze-excitation after the depthwise, or all NULL: the block runs twice over its rows, first
     * summing the depthwise output per channel (th_mean_from_sums_s8), then, with the gate made from the
     * pooled vector, again, scaling each row (th_mul_s8) before the projection */
    const th_mean_args *se_mean;
    const th_conv_args *se_reduce, *se_expand; /* 1x1 convs on the pooled 1x1 map */
    const th_logistic_args *se_gate;     /* NULL when folded into se_expand (th_conv_args.table) */
    const th_mul_args *se_mul;
    int32_t se_sums_offset, se_pooled_offset, se_reduced_offset, se_pre_offset, se_gate_offset; /* scratch */
    const th_conv_args *project;         /* 1x1 projection (tinyhil_matmul.h layout), or NULL: the block ends at the depthwise */
    const th_add_args *residual;         /* NULL, or the ADD of the projection and `skip` */
    int32_t projection_is_input1;        /* the projection is the ADD's first operand */
    int32_t dw_row_offset, project_row_offset, q15_offset; /* scratch layout, bytes from its start */
    /* the depthwise on the q15 ring of depthwise_conv2d_pairs.c (filter_q15: its records), the expansion's
     * rows made into the int8 row at expanded_row_offset and widened into it; else the int8 ring, and with
     * strip_channels > 0 (filter_q15: the pair records) each window widened that many channels at a time into
     * q15 strips at q15_offset for the pair kernel's rows */
    int32_t depthwise_pairs, expanded_row_offset, strip_channels;
    /* the pair rows of that depthwise's window (th_dwp_channels_3x3 / _5x5 / _7x7), NULL on the int8 ring alone */
    th_dwp_channels_fn dw_channels;
} th_mbconv_args;

void th_conv2d_s8(const th_conv_args *a, const int8_t *input, int8_t *output);
/* filter in the pair layout of tinyhil_matmul.h; scratch: see each kernel's file */
void th_conv2d_1x1_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch);
void th_conv2d_im2col_s8(const th_conv_args *a, const int8_t *input, int8_t *output, int8_t *scratch);
#define TH_DEPTHWISE_MAX_KERNEL_H 16
/* scratch: k_h rows of ((out_w - 1) * stride_w + (k_w - 1) * dil_w + 1) pixels of in_c rounded up to 4 bytes */
/* One function per row loop, named by the code generator (lower.depthwise_kernel), so a firmware links only the
 * loops its layers run: _3x3_, _3x1_ ... _7x1_, _1x3_ ... _1x7_, _5x5_, _7x7_ (that window, dilation 1 in W,
 * multiplier 1, channels a multiple of 4), _taps_ (multiplier
 * 1, up to 64 taps), _multiplier_ / _multiplier_3x3_ (multiplier > 1, up to 64
 * taps, records with the folded requantisation), _portable_ (any). Each _inplace_ twin: stride 1
 * and dilation 1 in H, same input/output shape; the same scratch. */
#define TH_DEPTHWISE_VARIANT(VARIANT)                                                                            \
    void th_depthwise_conv2d_##VARIANT##_s8(const th_conv_args *a, const int8_t *input, int8_t *output,          \
                                            int8_t *scratch);                                                    \
    void th_depthwise_conv2d_##VARIANT##_inplace_s8(const th_conv_args *a, int8_t *buffer, int8_t *scratch);
TH_DEPTHWISE_VARIANT(3x3)
TH_DEPTHWISE_VARIANT(3x1)
TH_DEPTHWISE_VARIANT(5x1)
TH_DEPTHWISE_VARIANT(7x1)
TH_DEPTHWISE_VARIANT(1x3)
TH_DEPTHWISE_VARIANT(1x5)
TH_DEPTHWISE_VARIANT(1x7)
TH_DEPTHWISE_VARIANT(5x5)
TH_DEPTHWISE_VARIANT(7x7)
TH_DEPTHWISE_VARIANT(taps)
TH_DEPTHWISE_VARIANT(multiplier)
TH_DEPTHWISE_VARIANT(multiplier_3x3)
TH_DEPTHWISE_VARIANT(portable)
TH_DEPTHWISE_VARIANT(line_3x1) /* _line_: k x 1 / 1 x k, records of lower.depthwise_line_records */
TH_DEPTHWISE_VARIANT(line_5x1)
TH_DEPTHWISE_VARIANT(line_7x1)
TH_DEPTHWISE_VARIANT(line_1x3)
TH_DEPTHWISE_VARIANT(line_1x5)
TH_DEPTHWISE_VARIANT(line_1x7)
/* depth multiplier 1, stride 1 or 2 and dilation 1 in W; filter_q15 in the record layout of
 * depthwise_conv2d_pairs.c; scratch: k_h rows of in_c x th_dwp_ring_width(a) int16. Variants (named by
 * lower.depthwise_pairs_kernel): _portable_ any such shape and requantisation; _3x3_s1 / _3x3_s2, _5x5_s1 /
 * _5x5_s2, _7x7_s1 / _7x7_s2, _1x3_s1, _3x1_s1, _5x1_s1 (with _clamp where the activation bounds lie inside int8) the hand-scheduled loops, for
 * records with the folded requantisation (e != 0) */
int32_t th_dwp_ring_width(const th_conv_args *a);
#define TH_DEPTHWISE_PAIRS_FILL(VARIANT, FILL)                                                                   \
    void th_depthwise_conv2d_pairs_##VARIANT##_##FILL##_s8(const th_conv_args *a, const int8_t *input,           \
                                                           int8_t *output, int8_t *scratch);                     \
    void th_depthwise_conv2d_pairs_##VARIANT##_##FILL##_inplace_s8(const th_conv_args *a, int8_t *buffer,        \
                                                                   int8_t *scratch);
/* each variant with the ring fill by_pair (4-channel groups outnumber the image's column pairs) or by_group */
#define TH_DEPTHWISE_PAIRS_VARIANT(VARIANT) TH_DEPTHWISE_PAIRS_FILL(VARIANT, by_pair) TH_DEPTHWISE_PAIRS_FILL(VARIANT, by_group)
TH_DEPTHWISE_PAIRS_VARIANT(portable)
TH_DEPTHWISE_PAIRS_VARIANT(3x3_s1)
TH_DEPTHWISE_PAIRS_VARIANT(3x3_s2)
TH_DEPTHWISE_PAIRS_VARIANT(3x3_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(3x3_s2_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(1x3_s1)
TH_DEPTHWISE_PAIRS_VARIANT(1x3_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(3x1_s1)
TH_DEPTHWISE_PAIRS_VARIANT(3x1_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(5x1_s1)
TH_DEPTHWISE_PAIRS_VARIANT(5x1_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(5x5_s1)
TH_DEPTHWISE_PAIRS_VARIANT(5x5_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(5x5_s2)
TH_DEPTHWISE_PAIRS_VARIANT(5x5_s2_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(7x7_s1)
TH_DEPTHWISE_PAIRS_VARIANT(7x7_s1_clamp)
TH_DEPTHWISE_PAIRS_VARIANT(7x7_s2)
TH_DEPTHWISE_PAIRS_VARIANT(7x7_s2_clamp)
/* input may be output (in place: stride 1, same shape); skip: the residual operand or NULL. In a cascade,
 * input and skip are those of the first block. */
void th_mbconv_fused_s8(const th_mbconv_args *a, const int8_t *input, const int8_t *skip, int8_t *output,
                        int8_t *scratch);
void th_fully_connected_s8(const th_fc_args *a, const int8_t *input, int8_t *output);
/* input offset folded into the bias, weights interleaved in groups of 6, 4, 2 or 1 rows (fully_connected_folded.c,
 * lower.fc_group_rows); one variant per set of row-group sizes (6, 4, 2, 1) a layer makes, e.g. _g61_ for 7 rows, _g2_ for 2:
 * X(VARIANT, G6, G4, G2, G1) (lower.fully_connected_kernel names it); each with a _fast twin for layers with
 * requant set and no activation narrower than int8 (no generic requantisation linked) */
#define TH_FC_FOLDED_VARIANTS(X) \
    X(g1, 0, 0, 0, 1) \
    X(g2, 0, 0, 1, 0) \
    X(g21, 0, 0, 1, 1) \
    X(g4, 0, 1, 0, 0) \
    X(g41, 0, 1, 0, 1) \
    X(g42, 0, 1, 1, 0) \
    X(g421, 0, 1, 1, 1) \
    X(g6, 1, 0, 0, 0) \
    X(g61, 1, 0, 0, 1) \
    X(g62, 1, 0, 1, 0) \
    X(g621, 1, 0, 1, 1) \
    X(g64, 1, 1, 0, 0) \
    X(g641, 1, 1, 0, 1) \
    X(g642, 1, 1, 1, 0) \
    X(g6421, 1, 1, 1, 1)
#define TH_FC_FOLDED_DECLARE(VARIANT, G6, G4, G2, G1)                                                     \
    void th_fully_connected_folded_##VARIANT##_s8(const th_fc_args *a, const int8_t *input, int8_t *output); \
    void th_fully_connected_folded_##VARIANT##_fast_s8(const th_fc_args *a, const int8_t *input, int8_t *output);
TH_FC_FOLDED_VARIANTS(TH_FC_FOLDED_DECLARE)
void th_add_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_sub_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
/* the same with `broadcast` (any broadcast) or input2_inner 1 (a scalar operand) */
void th_add_broadcast_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_sub_broadcast_s8(const th_add_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_avg_pool_s8(const th_pool_args *a, const int8_t *input, int8_t *output);
void th_max_pool_s8(const th_pool_args *a, const int8_t *input, int8_t *output);
void th_mean_s8(const th_mean_args *a, const int8_t *input, int8_t *output);
/* MEAN's output from per-channel sums of the raw input bytes (sums[inner], outer 1): what th_mean_s8 gives
 * for the tensor summed (the fused block's squeeze-excitation pools its rows as it makes them) */
void th_mean_from_sums_s8(const th_mean_args *a, const int32_t *sums, int8_t *output);
void th_pad_s8(const th_pad_args *a, const int8_t *input, int8_t *output);
void th_softmax_s8(const th_softmax_args *a, const int8_t *input, int8_t *output);
void th_leaky_relu_s8(const th_leaky_relu_args *a, const int8_t *input, int8_t *output);
void th_hard_swish_s8(const th_hard_swish_args *a, const int8_t *input, int8_t *output);
void th_logistic_s8(const th_logistic_args *a, const int8_t *input, int8_t *output);
void th_mul_s8(const th_mul_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_swish_s8(const th_swish_args *a, const int8_t *input, int8_t *output);
void th_tanh_s8(const th_tanh_args *a, const int8_t *input, int8_t *output);
void th_lookup_s8(const th_lookup_args *a, const int8_t *input, int8_t *output);
void th_rsqrt_s8(const th_rsqrt_args *a, const int8_t *input, int8_t *output);
void th_batch_matmul_s8(const th_batch_matmul_args *a, const int8_t *lhs, const int8_t *rhs, int8_t *output);
void th_squared_difference_s8(const th_squared_difference_args *a, const int8_t *input1, const int8_t *input2,
                              int8_t *output);
void th_relu6_s8(const th_relu6_args *a, const int8_t *input, int8_t *output);
void th_requantize_s8(const th_requantize_args *a, const int8_t *input, int8_t *output);
void th_reduce_max_s8(const th_reduce_args *a, const int8_t *input, int8_t *output);
void th_reduce_min_s8(const th_reduce_args *a, const int8_t *input, int8_t *output);
void th_maximum_s8(const th_maximum_minimum_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_minimum_s8(const th_maximum_minimum_args *a, const int8_t *input1, const int8_t *input2, int8_t *output);
void th_transpose_conv_s8(const th_transpose_conv_args *a, const int8_t *input, int8_t *output);
void th_strided_copy_s8(const th_strided_copy_args *a, const int8_t *input, int8_t *output);
void th_prelu_s8(const th_prelu_args *a, const int8_t *input, const int8_t *alpha, int8_t *output);
void th_resize_bilinear_s8(const th_resize_bilinear_args *a, const int8_t *input, int8_t *output);
void th_resize_nearest_s8(const th_resize_nearest_args *a, const int8_t *input, int8_t *output);
void th_concatenation_s8(const th_concatenation_args *a, const int8_t *const *inputs, int8_t *output);
void th_copy_s8(size_t bytes, const int8_t *input, int8_t *output);

#endif
