/* RELU6 int8 (TFLM Relu6Quantized): each byte clamped to [zero point, quantised 6] of the input's own
 * quantisation, no rescaling. Fast path: four bytes per word with SSUB8/SEL (th_clamp_s8x4). */
#include "tinyhil_dsp.h"
#include "tinyhil_fixedpoint.h"
#include "tinyhil_kernels.h"

void th_relu6_s8(const th_relu6_args *a, const int8_t *input, int8_t *output) {
    int32_t i = 0;
#if TINYHIL_USE_DSP
    const uint32_t lo4 = th_splat_s8x4(a->lower), hi4 = th_splat_s8x4(a->upper);
    for (; i + 4 <= a->size; i += 4) {
        th_write_s8x4(output + i, th_clamp_s8x4(th_read_s8x4(input + i), lo4, hi4));
    }
#endif
    for (; i < a->size; ++i) {
        output[i] = th_clamp_s8(input[i], a->lower, a->upper);
    }
}
