/* TRANSPOSE, SLICE and STRIDED_SLICE int8 (TFLite reference_ops: copies), one kernel: output element
 * (i0..i5), written in order, is input byte offset + sum(i_k * in_strides[k]). The host computes the offset (a
 * slice's start), the output's dims padded to 6 and, per output dim, the input stride it walks (a permuted row
 * stride for TRANSPOSE, a row stride times the step, negative included, for STRIDED_SLICE:
 * lower_layout.strided_copy_fields); where the innermost output dim is contiguous in the input, runs are copied. */
#include <stddef.h>

#include "tinyhil_copy.h"
#include "tinyhil_kernels.h"

void th_strided_copy_s8(const th_strided_copy_args *a, const int8_t *input, int8_t *output) {
    const int32_t *d = a->dims, *s = a->in_strides;
    input += a->offset;
    for (int32_t i0 = 0; i0 < d[0]; ++i0) {
        const int8_t *p0 = input + (ptrdiff_t)i0 * s[0];
        for (int32_t i1 = 0; i1 < d[1]; ++i1) {
            const int8_t *p1 = p0 + (ptrdiff_t)i1 * s[1];
            for (int32_t i2 = 0; i2 < d[2]; ++i2) {
                const int8_t *p2 = p1 + (ptrdiff_t)i2 * s[2];
                for (int32_t i3 = 0; i3 < d[3]; ++i3) {
                    const int8_t *p3 = p2 + (ptrdiff_t)i3 * s[3];
                    for (int32_t i4 = 0; i4 < d[4]; ++i4) {
                        const int8_t *p4 = p3 + (ptrdiff_t)i4 * s[4];
                        if (s[5] == 1) {
                            th_copy_bytes(output, p4, d[5]);
                            output += d[5];
                            continue;
                        }
                        for (int32_t i5 = 0; i5 < d[5]; ++i5) {
                            *output++ = p4[(ptrdiff_t)i5 * s[5]];
                        }
                    }
                }
            }
        }
    }
}
