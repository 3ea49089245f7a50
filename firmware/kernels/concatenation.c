/* CONCATENATION int8 (TFLM's int8 kernel: a copy, every input quantised as the output). Input by input, each
 * of its `outer` chunks goes to its slice of an output row. A channel concatenation copies a few bytes per
 * pixel, where a memcpy call costs more than the copy: short chunks go a word at a time (tinyhil_copy.h).
 * The output never overlaps an input (the planner keeps them all live across the op). */
#include <string.h>

#include "tinyhil_copy.h"
#include "tinyhil_kernels.h"

void th_concatenation_s8(const th_concatenation_args *a, const int8_t *const *inputs, int8_t *output) {
    int32_t offset = 0;
    for (int32_t i = 0; i < a->count; ++i) {
        const int32_t chunk = a->chunk_bytes[i];
        if (a->outer == 1 || chunk == a->row_bytes) {
            memcpy(output + offset, inputs[i], (size_t)chunk * (size_t)a->outer);  /* one contiguous run */
        } else {
            const int8_t *in = inputs[i];
            int8_t *out = output + offset;
            for (int32_t r = 0; r < a->outer; ++r, in += chunk, out += a->row_bytes) {
                th_copy_bytes(out, in, chunk);
            }
        }
        offset += chunk;
    }
}
