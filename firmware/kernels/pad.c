/* PAD int8 (4-D, constant value = the output zero point unless the model gives one). */
#include <string.h>

#include "tinyhil_kernels.h"

void th_pad_s8(const th_pad_args *a, const int8_t *input, int8_t *output) {
    const int32_t *od = a->out_dims;
    const int32_t *id = a->in_dims;
    const size_t out_size = (size_t)od[0] * od[1] * od[2] * od[3];
    memset(output, a->pad_value, out_size);
    for (int32_t n = 0; n < id[0]; ++n) {
        for (int32_t y = 0; y < id[1]; ++y) {
            for (int32_t x = 0; x < id[2]; ++x) {
                const size_t src = (((size_t)n * id[1] + y) * id[2] + x) * id[3];
                const size_t dst = ((((size_t)n + a->before[0]) * od[1] + y + a->before[1]) * od[2] + x + a->before[2]) * od[3]
                                   + a->before[3];
                memcpy(output + dst, input + src, (size_t)id[3]);
            }
        }
    }
}
