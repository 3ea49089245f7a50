/* Inputs generated on the device from a seed, so a measurement of a large model costs a few bytes
 * of serial traffic. The host computes the same bytes (tinyhil.protocol.seeded_input). */
#ifndef TINYHIL_SEEDED_INPUT_H
#define TINYHIL_SEEDED_INPUT_H

#include <stdint.h>

/* Word j of the input is mix32(mix32(seed) + j * 0x9E3779B9), stored little-endian: a counter-based
 * generator, so the host computes it vectorised and any prefix is the same for any length. */
void seeded_input(uint32_t seed, int8_t *out, uint32_t length);

#endif
