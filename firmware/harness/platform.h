/* The platform layer: each BSP (firmware/bsp/<name>/platform.c) implements these functions. */
#ifndef TINYHIL_PLATFORM_H
#define TINYHIL_PLATFORM_H

#include <stdint.h>

#define TINYHIL_UNIT_CYCLES 0u
#define TINYHIL_UNIT_INSTRUCTIONS 1u

/* What platform_elapsed() counts: TINYHIL_UNIT_CYCLES or TINYHIL_UNIT_INSTRUCTIONS. */
extern const uint8_t platform_latency_unit;

void platform_init(void);
void platform_putc(uint8_t byte);
uint8_t platform_getc(void);            /* blocks until a byte arrives */
void platform_timer_start(void);
uint64_t platform_elapsed(void);        /* since platform_timer_start, in platform_latency_unit */
void platform_exit(int code) __attribute__((noreturn));
uint32_t platform_cpu_hz(void);         /* the core clock the BSP actually runs at, in Hz (sent in the hello) */
void platform_flush(void);              /* returns once the UART has sent every byte given to platform_putc */
void platform_reset(void) __attribute__((noreturn)); /* a system reset: the firmware boots again */

/* The UART's baud rate: the board profile's [serial] baudrate, passed by the build (firmware.py). */
#ifndef TINYHIL_BAUD_RATE
#define TINYHIL_BAUD_RATE 115200u
#endif

#endif
