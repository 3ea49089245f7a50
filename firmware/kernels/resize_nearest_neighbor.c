/* RESIZE_NEAREST_NEIGHBOR int8 (TFLite reference_ops::ResizeNearestNeighbor: a copy, no requantisation). The
 * source row and column of every output row and column come from the host (the reference's float arithmetic,
 * align_corners / half_pixel_centers included, in lower_layout.resize_nearest_sources), so the kernel copies
 * one pixel's channels per output pixel, and a whole output row where it repeats the row before. */
#include <string.h>

#include "tinyhil_copy.h"
#include "tinyhil_kernels.h"

void th_resize_nearest_s8(const th_resize_nearest_args *a, const int8_t *input, int8_t *output) {
    const int32_t c = a->channels;
    const size_t in_row = (size_t)a->in_w * (size_t)c, out_row = (size_t)a->out_w * (size_t)c;
    for (int32_t b = 0; b < a->batches; ++b) {
        const int8_t *in = input + (size_t)b * (size_t)a->in_h * in_row;
        int8_t *out = output + (size_t)b * (size_t)a->out_h * out_row;
        for (int32_t y = 0; y < a->out_h; ++y, out += out_row) {
            if (y > 0 && a->source_rows[y] == a->source_rows[y - 1]) {
                memcpy(out, out - out_row, out_row);  /* an upsampled row: the one just written again */
                continue;
            }
            const int8_t *row = in + (size_t)a->source_rows[y] * in_row;
            for (int32_t x = 0; x < a->out_w; ++x) {
                th_copy_bytes(out + (size_t)x * (size_t)c, row + (size_t)a->source_cols[x] * (size_t)c, c);
            }
        }
    }
}
