/* Stack high-water: paint the unused stack with a pattern, later find the deepest overwritten word. */
#ifndef TINYHIL_STACK_METER_H
#define TINYHIL_STACK_METER_H

#include <stdint.h>

void stack_paint(void);
uint32_t stack_high_water_bytes(void);
uint32_t stack_size_bytes(void);

#endif
