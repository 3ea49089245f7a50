/* Cortex-M7 reset path shared by every BSP: FPU on, .data copied, .bss zeroed, static
 * constructors run, then main().
 * The harness polls its UART, so only the core exception vectors are populated. */
#include <stdint.h>

#include "platform.h"

extern uint32_t __stack_top__[];
extern uint32_t __data_start__[], __data_end__[], __data_load__[], __bss_start__[], __bss_end__[];
extern void (*const __init_array_start__[])(void);
extern void (*const __init_array_end__[])(void);
extern int main(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void);

static void fault_handler(void)
{
    platform_exit(134); /* the same status QEMU reports for a lockup */
}

__attribute__((section(".isr_vector"), used))
static void (*const vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top__,
    Reset_Handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    fault_handler, /* SysTick */
};

__attribute__((noreturn)) void Reset_Handler(void)
{
    SCB_CPACR |= (0xFu << 20); /* CP10 + CP11 full access: the FPU */
    __asm__ volatile("dsb\n isb" ::: "memory");
    for (uint32_t *src = __data_load__, *dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (volatile uint32_t *dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0;
    }
    for (void (*const *init)(void) = __init_array_start__; init < __init_array_end__; ++init) {
        (*init)();
    }
    main();
    platform_exit(0);
}
