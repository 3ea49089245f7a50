/* The fast path of the elementwise int8 activations: one 256-entry table lookup per element.
 *
 * An int8 activation has only 256 possible inputs, so the host computes the op's output for each of
 * them with the op's own integer arithmetic (codegen/tables.py, checked against the reference
 * interpreter for all 256 inputs) and the kernel only indexes the table by the input byte. The table
 * paths belong to the Cortex-M7 fast build (TINYHIL_USE_DSP): the host tests run them through the
 * DSP-emulated build, and the portable build keeps each op's reference arithmetic, so both are tested.
 * A conv with a folded activation (th_conv_args.table, fuse.fuse_activations) applies its table in both
 * builds: there the table is the activation (its entries are the reference arithmetic's outputs).
 * Four bytes per word load and store; in place allowed (each word is read before it is written). */
#ifndef TINYHIL_TABLE_H
#define TINYHIL_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "tinyhil_dsp.h"

#define TINYHIL_USE_TABLES TINYHIL_USE_DSP

static inline void th_table_lookup_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output) {
    const uint8_t *t = (const uint8_t *)table;
    int32_t i = 0;
    for (; i + 4 <= size; i += 4) {
        const uint32_t x = th_read_s8x4(input + i);
        const uint32_t y = (uint32_t)t[x & 0xFFu] | (uint32_t)t[(x >> 8) & 0xFFu] << 8
                           | (uint32_t)t[(x >> 16) & 0xFFu] << 16 | (uint32_t)t[x >> 24] << 24;
        th_write_s8x4(output + i, y);
    }
    for (; i < size; ++i) {
        output[i] = (int8_t)t[(uint8_t)input[i]];
    }
}

#endif
