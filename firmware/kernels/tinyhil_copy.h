/* Copies of a few bytes (a pixel's channels, a channel-concatenation chunk), where a memcpy call costs more
 * than the copy itself: a word at a time, then the tail. Larger runs go to memcpy. */
#ifndef TINYHIL_COPY_H
#define TINYHIL_COPY_H

#include <stdint.h>
#include <string.h>

#include "tinyhil_dsp.h"

#define TH_COPY_SHORT_BYTES 32 /* below this an inline word loop beats a memcpy call */

static inline void th_copy_bytes(int8_t *out, const int8_t *in, int32_t n) {
    if (n >= TH_COPY_SHORT_BYTES) {
        memcpy(out, in, (size_t)n);
        return;
    }
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        th_write_s8x4(out + k, th_read_s8x4(in + k));
    }
    for (; k < n; ++k) {
        out[k] = in[k];
    }
}

#endif
