/* CONCATENATION int8 (TFLM's int8 kernel: a copy, every input quantised as the output). Input by input, each
 * of its `outer` chunks goes to its slice of an output row. A channel concatenation copies a few bytes per
 * pixel, where a memcpy call costs more than the copy: short chunks go a word at a time. The output never
 * overlaps an input (the planner keeps them all live across the op). */
#include <string.h>

#include "tinyhil_dsp.h"
#include "tinyhil_kernels.h"

#define TH_CONCAT_SHORT_CHUNK 32 /* bytes: below this an inline word loop beats a memcpy call */

static void copy_rows(const int8_t *in, int8_t *out, int32_t rows, int32_t chunk, int32_t row_bytes) {
    if (chunk >= TH_CONCAT_SHORT_CHUNK) {
        for (int32_t r = 0; r < rows; ++r, in += chunk, out += row_bytes) {
            memcpy(out, in, (size_t)chunk);
        }
        return;
    }
    for (int32_t r = 0; r < rows; ++r, in += chunk, out += row_bytes) {
        int32_t k = 0;
        for (; k + 4 <= chunk; k += 4) {
            th_write_s8x4(out + k, th_read_s8x4(in + k));
        }
        for (; k < chunk; ++k) {
            out[k] = in[k];
        }
    }
}

void th_concatenation_s8(const th_concatenation_args *a, const int8_t *const *inputs, int8_t *output) {
    int32_t offset = 0;
    for (int32_t i = 0; i < a->count; ++i) {
        const int32_t chunk = a->chunk_bytes[i];
        if (a->outer == 1 || chunk == a->row_bytes) {
            memcpy(output + offset, inputs[i], (size_t)chunk * (size_t)a->outer);  /* one contiguous run */
        } else {
            copy_rows(inputs[i], output + offset, a->outer, chunk, a->row_bytes);
        }
        offset += chunk;
    }
}
