#include "cycle_count.h"

void cycle_count_start(struct cycle_count *count, uint32_t raw)
{
    count->start = raw;
    count->last = raw;
    count->wraps = 0u;
}

uint64_t cycle_count_elapsed(struct cycle_count *count, uint32_t raw)
{
    if (raw < count->last) {
        ++count->wraps;
    }
    count->last = raw;
    /* (wraps : raw) is the 64-bit counter; minus the start's raw value, so a start close to 2^32 stays right */
    return ((((uint64_t)count->wraps) << 32) | raw) - count->start;
}
