/* Cortex-M7 reset path shared by every BSP: VTOR set to this vector table, FPU on, the configurable
 * faults enabled, .data copied, .bss zeroed, static constructors run, then main().
 *
 * Every fault ends in one ERROR frame that names it (host/tinyhil/faults.py decodes it), then a reset:
 * a crash shows on the host as "UsageFault at PC 0x..." instead of a silent reboot that looks like a
 * hang. The harness polls its UART, so only the core exception vectors are populated. */
#include <stdint.h>

#include "platform.h"
#include "protocol.h"

extern uint32_t __stack_top__[], __stack_limit__[];
extern uint32_t __data_start__[], __data_end__[], __data_load__[], __bss_start__[], __bss_end__[];
extern void (*const __init_array_start__[])(void);
extern void (*const __init_array_end__[])(void);
extern int main(void);

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SHCSR_FAULTS_ENABLED ((1u << 16) | (1u << 17) | (1u << 18)) /* MEMFAULTENA, BUSFAULTENA, USGFAULTENA */

/* The ERROR frame of a fault (protocol.h: code | offending type | detail). Offending type 0: the fault is
 * not an answer to one frame. Detail, u32 LE each: exception number (IPSR: 2 NMI, 3 HardFault,
 * 4 MemManage, 5 BusFault, 6 UsageFault), stacked PC, stacked LR, CFSR, HFSR, MMFAR, BFAR. */
#define FAULT_DETAIL_WORDS 7u

void Reset_Handler(void);
void fault_entry(void);
void tinyhil_fault_report(const uint32_t *stacked, uint32_t exc_return) __attribute__((noreturn, used));

__attribute__((section(".isr_vector"), used))
static void (*const vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top__,
    Reset_Handler,
    fault_entry, /* NMI */
    fault_entry, /* HardFault */
    fault_entry, /* MemManage */
    fault_entry, /* BusFault */
    fault_entry, /* UsageFault */
    0, 0, 0, 0,
    fault_entry, /* SVCall: never used, so reaching it is a fault too */
    fault_entry, /* DebugMonitor */
    0,
    fault_entry, /* PendSV */
    fault_entry, /* SysTick */
};

/* The stacked exception frame is on MSP or PSP (EXC_RETURN bit 2); hand it to C without touching it.
 * A stack that overflowed below its limit (on the Nucleo: past the DTCM's base into unmapped space) is
 * moved back to the top first, or the report itself would fault again and lock the core up. */
__attribute__((naked)) void fault_entry(void)
{
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "mov r1, lr\n"
        "ldr r2, =__stack_limit__\n"
        "cmp sp, r2\n"
        "bhs 1f\n"
        "ldr r2, =__stack_top__\n"
        "mov sp, r2\n"
        "1: b tinyhil_fault_report\n");
}

static void put_word(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; ++i) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

void tinyhil_fault_report(const uint32_t *stacked, uint32_t exc_return)
{
    (void)exc_return;
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    const uint8_t head[2] = {ERROR_FAULT, 0u};
    /* a frame outside the stack (it could not be pushed) is not read: PC and LR 0 mean unknown */
    const int framed = stacked >= __stack_limit__ && stacked + 8 <= __stack_top__;
    const uint32_t words[FAULT_DETAIL_WORDS] = {ipsr & 0x1FFu, framed ? stacked[6] : 0u, framed ? stacked[5] : 0u,
                                                SCB_CFSR, SCB_HFSR, SCB_MMFAR, SCB_BFAR};
    uint8_t detail[4u * FAULT_DETAIL_WORDS];
    for (unsigned i = 0; i < FAULT_DETAIL_WORDS; ++i) {
        put_word(&detail[4u * i], words[i]);
    }
    protocol_send(FRAME_ERROR, 0u, head, sizeof head, detail, sizeof detail);
    platform_flush(); /* the frame is on the wire before the reset cuts the UART */
    __asm__ volatile("dsb" ::: "memory");
    platform_reset();
}

__attribute__((noreturn)) void Reset_Handler(void)
{
    SCB_VTOR = (uint32_t)(uintptr_t)vector_table; /* not left to the boot ROM or a bootloader */
    SCB_CPACR |= (0xFu << 20); /* CP10 + CP11 full access: the FPU */
    SCB_SHCSR |= SHCSR_FAULTS_ENABLED; /* each fault its own name, not all escalated to HardFault */
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
