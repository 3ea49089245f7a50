/* A 32-bit hardware counter (DWT->CYCCNT) extended to 64 bits in software: every read compares with
 * the previous one and counts a wrap when the counter went backwards. Right as long as it is read at
 * least once per wrap period (2^32 cycles = 8.9 s at 480 MHz): the harness reads it at the end of
 * every layer (tinyhil_layer_done), so only a single layer longer than that would lose a wrap.
 * Pure (no register access): tests/hil/test_h743_clock_tree.py runs it on the host across wraps. */
#ifndef TINYHIL_CYCLE_COUNT_H
#define TINYHIL_CYCLE_COUNT_H

#include <stdint.h>

struct cycle_count {
    uint32_t start; /* the raw counter at cycle_count_start */
    uint32_t last;  /* the raw counter at the previous read */
    uint32_t wraps; /* how many times it passed 2^32 since cycle_count_start */
};

/* Start counting from `raw` (the counter's value now). */
void cycle_count_start(struct cycle_count *count, uint32_t raw);
/* 64-bit count since cycle_count_start, given the counter's value now. */
uint64_t cycle_count_elapsed(struct cycle_count *count, uint32_t raw);

#endif
