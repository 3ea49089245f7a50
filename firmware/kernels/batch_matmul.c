/* BATCH_MATMUL int8 (TFLM batch_matmul.cc / reference_ops::BatchMatMul): per batch, output[i][j] =
 * sum_k (lhs[i][k] + lhs_offset) * (rhs[k][j] + rhs_offset), requantised (th_mbqm) + zp_out, clamped to int8.
 * The int32 sum is exact in any order, so each operand is read in place through its strides: adj_x / adj_y
 * (a transposed operand) and the batch broadcast (a batch stride 0) need no transposed copy, where TFLM makes one.
 * Fast path: where both operands step 1 along K (lhs not adjoint, rhs adjoint: attention's Q K^T when the
 * converter keeps K untransposed), two K terms per SMLAD. */
#include <stddef.h>

#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

static int32_t dot(const th_batch_matmul_args *a, const int8_t *x, const int8_t *w) {
    const int32_t depth = a->depth, xs = a->lhs_k_stride, ws = a->rhs_k_stride;
    int32_t total = 0, k = 0;
#if TINYHIL_USE_DSP
    if (xs == 1 && ws == 1) {
        const uint32_t xo = (uint32_t)(uint16_t)a->lhs_offset * 0x00010001u;
        const uint32_t wo = (uint32_t)(uint16_t)a->rhs_offset * 0x00010001u;
        for (; k + 4 <= depth; k += 4) {
            const uint32_t xw = th_read_s8x4(x + k), ww = th_read_s8x4(w + k);
            total = th_smlad(th_sxtab16(xo, xw), th_sxtab16(wo, ww), total);
            total = th_smlad(th_sxtab16_ror8(xo, xw), th_sxtab16_ror8(wo, ww), total);
        }
    }
#endif
    for (; k < depth; ++k) {
        total += (x[(size_t)k * xs] + a->lhs_offset) * (w[(size_t)k * ws] + a->rhs_offset);
    }
    return total;
}

void th_batch_matmul_s8(const th_batch_matmul_args *a, const int8_t *lhs, const int8_t *rhs, int8_t *output) {
    int8_t *y = output;
    for (int32_t b0 = 0; b0 < a->batch[0]; ++b0) {
        for (int32_t b1 = 0; b1 < a->batch[1]; ++b1) {
            for (int32_t b2 = 0; b2 < a->batch[2]; ++b2) {
                const int8_t *x = lhs + (size_t)b0 * a->lhs_batch_stride[0] + (size_t)b1 * a->lhs_batch_stride[1]
                                  + (size_t)b2 * a->lhs_batch_stride[2];
                const int8_t *w = rhs + (size_t)b0 * a->rhs_batch_stride[0] + (size_t)b1 * a->rhs_batch_stride[1]
                                  + (size_t)b2 * a->rhs_batch_stride[2];
                for (int32_t i = 0; i < a->rows; ++i) {
                    for (int32_t j = 0; j < a->cols; ++j) {
                        const int32_t total = dot(a, x + (size_t)i * a->lhs_row_stride,
                                                  w + (size_t)j * a->rhs_col_stride);
                        *y++ = th_clamp_s8(th_mbqm(total, a->output_multiplier, a->output_shift) + a->output_offset,
                                           -128, 127);
                    }
                }
            }
        }
    }
}
