#include "stack_meter.h"

#define STACK_PATTERN 0xA5A5A5A5u
#define LIVE_MARGIN_WORDS 16u /* keep clear of the frame we are running in */

extern uint32_t __stack_limit__[];
extern uint32_t __stack_top__[];

void stack_paint(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *word = __stack_limit__; word < sp - LIVE_MARGIN_WORDS; ++word) {
        *word = STACK_PATTERN;
    }
}

uint32_t stack_high_water_bytes(void)
{
    const uint32_t *word = __stack_limit__;
    while (word < __stack_top__ && *word == STACK_PATTERN) {
        ++word;
    }
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)word);
}

uint32_t stack_size_bytes(void)
{
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)__stack_limit__);
}
