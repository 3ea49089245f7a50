#include "seeded_input.h"

/* "lowbias32" (Chris Wellons' hash-prospector): a 32-bit integer hash with good avalanche. */
static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

void seeded_input(uint32_t seed, int8_t *out, uint32_t length)
{
    const uint32_t key = mix32(seed);
    for (uint32_t i = 0; i < length; i += 4) {
        const uint32_t word = mix32(key + (i / 4u) * 0x9E3779B9u);
        for (uint32_t b = 0; b < 4 && i + b < length; ++b) {
            out[i + b] = (int8_t)(uint8_t)(word >> (8 * b));
        }
    }
}
