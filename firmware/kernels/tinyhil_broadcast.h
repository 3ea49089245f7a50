/* The walk of a general two-operand broadcast (th_broadcast; TFLM's BroadcastBinaryFunction4DSlow): the output
 * row by row over its innermost dim, each operand stepping its own stride along it (1, or 0 where it repeats).
 * `row` is a constant at each call, so each kernel gets its own inlined copy. */
#ifndef TINYHIL_BROADCAST_H
#define TINYHIL_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "tinyhil_kernels.h"

typedef void (*th_broadcast_row)(const void *args, int32_t n, const int8_t *x1, int32_t step1, const int8_t *x2,
                                 int32_t step2, int8_t *y);

static inline __attribute__((always_inline)) void th_broadcast_rows(const th_broadcast *b, const void *args,
                                                                     const int8_t *input1, const int8_t *input2,
                                                                     int8_t *output, th_broadcast_row row) {
    const int32_t *d = b->dims, *s1 = b->strides1, *s2 = b->strides2;
    int8_t *y = output;
    for (int32_t i0 = 0; i0 < d[0]; ++i0) {
        for (int32_t i1 = 0; i1 < d[1]; ++i1) {
            for (int32_t i2 = 0; i2 < d[2]; ++i2) {
                const size_t o1 = (size_t)i0 * s1[0] + (size_t)i1 * s1[1] + (size_t)i2 * s1[2];
                const size_t o2 = (size_t)i0 * s2[0] + (size_t)i1 * s2[1] + (size_t)i2 * s2[2];
                row(args, d[3], input1 + o1, s1[3], input2 + o2, s2[3], y);
                y += d[3];
            }
        }
    }
}

#endif
