/* The out-of-line parts of the two-pixel matrix product of tinyhil_matmul.h, one copy for every kernel that
 * uses it (1x1, im2col, the fused blocks): the asm channel-pair loop and the general pair loop. */
#include "tinyhil_matmul.h"

#if TINYHIL_USE_DSP
#if TINYHIL_DSP_ASM
/* Every whole channel pair of two pixels in one asm loop, the twin of the C pair loop below, bit for bit;
 * without the clamp when SSAT's [-128, 127] is the activation's range (the common case: the converter
 * quantises a ReLU6 output to exactly that range). Returns the weights past the pairs. */
const uint32_t *th_matmul_pairs_asm(th_pair_loop *c, const uint32_t *w) {
    int32_t a00, a01, a10, a11;
    uint32_t w0, w1, w2, w3, x0, x1;
    const uint32_t *x;
    if (c->clamp) {
        __asm__ volatile(TH_PAIRS_ASM_HEAD(TH_DOT_2X2_ASM_BLOCKS_4, TH_PAIRS_TRIP_BLOCKS_CLAMPED) TH_PAIRS_ASM_CLAMP
                         TH_PAIRS_ASM_TAIL TH_PAIRS_ASM_OPERANDS);
    } else {
        __asm__ volatile(TH_PAIRS_ASM_HEAD(TH_DOT_2X2_ASM_BLOCKS_16, TH_PAIRS_TRIP_BLOCKS) TH_PAIRS_ASM_TAIL
                         TH_PAIRS_ASM_OPERANDS);
    }
    return w;
}
#endif

/* Two pixels (their q15 blocks at c->xq, prepared by th_matmul_2px_prepare) x all output channels; y1 NULL
 * for one: any channel count, requantisation and table. */
void th_matmul_2px_q15_general(const th_conv_args *a, th_pair_loop *c, int8_t *y0, int8_t *y1) {
    const int32_t out_c = a->out_c, offset = a->output_offset, blocks = c->blocks;
    const uint32_t lo4 = c->lo4, hi4 = c->hi4, *xq = c->xq;
    const int32_t *bias = a->bias, *requant = a->requant;
    const uint32_t *w = (const uint32_t *)(const void *)a->filter; /* 4-byte aligned by the generator */
    const int32_t packed_pairs_end = requant && y1 ? out_c & ~1 : 0;
    int32_t oc = 0;
#if TINYHIL_DSP_ASM
    if (packed_pairs_end > 0) { /* the common case, all in asm */
        c->bias = bias;
        c->requant = requant;
        c->y0 = y0;
        c->y1 = y1;
        c->y0_end = y0 + packed_pairs_end;
        w = th_matmul_pairs_asm(c, w);
        oc = packed_pairs_end;
    }
#endif
    for (; oc < out_c; oc += 2) {
        int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
        w = th_dot_2x2(xq, w, blocks, acc);
        int32_t acc00 = acc[0], acc01 = acc[1], acc10 = acc[2], acc11 = acc[3];
        if (oc < packed_pairs_end) { /* the common case: 4 outputs as one packed word */
            const int32_t m0 = requant[2 * oc], s0 = requant[2 * oc + 1];
            const int32_t m1 = requant[2 * oc + 2], s1 = requant[2 * oc + 3];
            const uint32_t packed = th_clamp_s8x4(th_pack_s8x4(th_ssat8(th_requantise_fast(acc00, m0, s0) + offset),
                                                               th_ssat8(th_requantise_fast(acc01, m1, s1) + offset),
                                                               th_ssat8(th_requantise_fast(acc10, m0, s0) + offset),
                                                               th_ssat8(th_requantise_fast(acc11, m1, s1) + offset)),
                                                  lo4, hi4);
            const uint16_t pixel0 = (uint16_t)packed, pixel1 = (uint16_t)(packed >> 16);
            memcpy(y0 + oc, &pixel0, 2);
            memcpy(y1 + oc, &pixel1, 2);
            continue;
        }
        y0[oc] = th_conv_output(a, acc00, oc);
        if (y1) {
            y1[oc] = th_conv_output(a, acc10, oc);
        }
        if (oc + 1 < out_c) {
            y0[oc + 1] = th_conv_output(a, acc01, oc + 1);
            if (y1) {
                y1[oc + 1] = th_conv_output(a, acc11, oc + 1);
            }
        }
    }
    if (a->table) {
        th_table_lookup_s8(a->table, out_c, y0, y0);
        if (y1) {
            th_table_lookup_s8(a->table, out_c, y1, y1);
        }
    }
}

#endif
