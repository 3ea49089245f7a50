/* QEMU mps2-an500 (Cortex-M7): CMSDK APB UART0 for the protocol, CMSDK TIMER0 as the latency
 * counter, semihosting to end the emulator. Under -icount shift=0 one 25 MHz timer tick is
 * 40 guest instructions, so latency is reported in instructions. */
#include "platform.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define UART0_BASE 0x40004000u
#define UART_DATA REG(UART0_BASE + 0x00u)
#define UART_STATE REG(UART0_BASE + 0x04u)
#define UART_CTRL REG(UART0_BASE + 0x08u)
#define UART_BAUDDIV REG(UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_RX_ENABLE 0x3u
#define UART_CTRL_RX_INTERRUPT 0x8u
#define UART_INTCLEAR REG(UART0_BASE + 0x0Cu)
#define UART_INT_RX 0x2u
#define UART0_RX_IRQ_BIT (1u << 0) /* QEMU mps2-an500: UART0 RX is IRQ 0 */
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICPR0 REG(0xE000E280u)

#define TIMER0_BASE 0x40000000u
#define TIMER_CTRL REG(TIMER0_BASE + 0x00u)
#define TIMER_VALUE REG(TIMER0_BASE + 0x04u)
#define TIMER_RELOAD REG(TIMER0_BASE + 0x08u)
#define INSTRUCTIONS_PER_TICK 40u

#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#define CPU_HZ 25000000u /* the AN500's nominal core clock (QEMU's mps2-an500 SYSCLK) */
#define SCB_AIRCR REG(0xE000ED0Cu)

const uint8_t platform_latency_unit = TINYHIL_UNIT_INSTRUCTIONS;

uint32_t platform_cpu_hz(void)
{
    return CPU_HZ;
}

void platform_init(void)
{
    /* BAUDDIV = PCLK / baud, at least 16 (the CMSDK UART's minimum); QEMU ignores the rate. */
    UART_BAUDDIV = CPU_HZ / TINYHIL_BAUD_RATE >= 16u ? CPU_HZ / TINYHIL_BAUD_RATE : 16u;
    UART_CTRL = UART_CTRL_TX_RX_ENABLE | UART_CTRL_RX_INTERRUPT;
}

void platform_putc(uint8_t byte)
{
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

void platform_flush(void)
{
    while (UART_STATE & UART_STATE_TX_FULL) { /* QEMU sends each byte as it is written: nothing else to wait for */
    }
}

/* A byte not there yet is waited for in WFI, woken by the UART's RX interrupt, instead of by polling the
 * status register: QEMU delivers input bytes from its I/O thread, which a vCPU reading the UART in a tight
 * loop keeps waiting (the first request after boot took ~1 s, a 14-byte one 0.7 s). The interrupt is enabled
 * in the NVIC only around WFI, with PRIMASK set, so it wakes the core and is never taken (the vector table has
 * no IRQ entries); a byte already there is read at once (bulk input arrives back to back). */
uint8_t platform_getc(void)
{
    if (!(UART_STATE & UART_STATE_RX_FULL)) {
        __asm__ volatile("cpsid i" ::: "memory");
        UART_INTCLEAR = UART_INT_RX; /* forget the bytes already read */
        NVIC_ICPR0 = UART0_RX_IRQ_BIT;
        NVIC_ISER0 = UART0_RX_IRQ_BIT;
        while (!(UART_STATE & UART_STATE_RX_FULL)) { /* a byte landing after the test is pending: WFI returns */
            __asm__ volatile("dsb\n\twfi" ::: "memory");
        }
        NVIC_ICER0 = UART0_RX_IRQ_BIT;
        __asm__ volatile("dsb\n\tisb\n\tcpsie i" ::: "memory");
    }
    return (uint8_t)UART_DATA;
}

void platform_timer_start(void)
{
    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 1u;
}

uint64_t platform_elapsed(void)
{
    const uint32_t ticks = 0xFFFFFFFFu - TIMER_VALUE; /* counts down */
    return (uint64_t)ticks * INSTRUCTIONS_PER_TICK;
}

void platform_exit(int code)
{
    volatile uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = SEMIHOSTING_SYS_EXIT_EXTENDED;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

void platform_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY + SYSRESETREQ: QEMU restarts the machine from its reset vector */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}
