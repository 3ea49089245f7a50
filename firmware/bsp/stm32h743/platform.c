/* STM32H743 (NUCLEO-H743ZI): PLL1 from the ST-LINK's 8 MHz MCO (HSE bypass) at 480 MHz with VOS0 on
 * revision V, 400 MHz with VOS1 on revision Y (ES0392: no VOS0 there); I/D caches on; USART3 on PD8/PD9
 * (AF7, the ST-LINK virtual COM port) at TINYHIL_BAUD_RATE; DWT->CYCCNT as the cycle counter, extended
 * to 64 bits in software.
 *
 * Every hardware wait is bounded and reports failure, and each failure has a fallback that keeps the
 * serial line right: HSE does not start -> PLL from HSI; the PLL does not lock -> stay on HSI 64 MHz;
 * ODEN does not read back -> 400 MHz. The UART divisor and platform_cpu_hz() come from the clock the
 * registers say was selected (RCC_CFGR.SWS and the prescalers), never from the clock that was asked for.
 * Register addresses and bit fields from RM0433 rev 8 and the Cortex-M7 TRM; the clock arithmetic is in
 * clock_tree.c (unit-tested on the host). */
#include "clock_tree.h"
#include "cycle_count.h"
#include "platform.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_BASE 0x58024400u
#define RCC_CR REG(RCC_BASE + 0x000u)
#define RCC_CFGR REG(RCC_BASE + 0x010u)
#define RCC_D1CFGR REG(RCC_BASE + 0x018u)
#define RCC_D2CFGR REG(RCC_BASE + 0x01Cu)
#define RCC_D3CFGR REG(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR REG(RCC_BASE + 0x028u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR REG(RCC_BASE + 0x030u)
#define RCC_AHB4ENR REG(RCC_BASE + 0x0E0u)
#define RCC_APB1LENR REG(RCC_BASE + 0x0E8u)
#define RCC_APB4ENR REG(RCC_BASE + 0x0F4u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)

#define PWR_BASE 0x58024800u
#define PWR_CSR1 REG(PWR_BASE + 0x04u)
#define PWR_CR3 REG(PWR_BASE + 0x0Cu)
#define PWR_D3CR REG(PWR_BASE + 0x18u)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_D3CR_VOSRDY (1u << 13)
#define SYSCFG_PWRCR REG(0x58000400u + 0x2Cu)
#define SYSCFG_PWRCR_ODEN 1u
#define FLASH_ACR REG(0x52002000u)
#define DBGMCU_IDC REG(0x5C001000u)
#define AXI_TARG7_FN_MOD REG(0x51008108u) /* AXI interconnect: AXI SRAM target read issuing capability */

#define GPIOD_BASE 0x58020C00u
#define GPIOD_MODER REG(GPIOD_BASE + 0x00u)
#define GPIOD_OSPEEDR REG(GPIOD_BASE + 0x08u)
#define GPIOD_AFRH REG(GPIOD_BASE + 0x24u)

#define USART3_BASE 0x40004800u
#define USART_CR1 REG(USART3_BASE + 0x00u)
#define USART_BRR REG(USART3_BASE + 0x0Cu)
#define USART_ISR REG(USART3_BASE + 0x1Cu)
#define USART_ICR REG(USART3_BASE + 0x20u)
#define USART_RDR REG(USART3_BASE + 0x24u)
#define USART_TDR REG(USART3_BASE + 0x28u)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TC (1u << 6)
#define USART_ISR_TXE (1u << 7)

#define SCB_CCR REG(0xE000ED14u)
#define SCB_AIRCR REG(0xE000ED0Cu)
#define SCB_CCSIDR REG(0xE000ED80u)
#define SCB_CSSELR REG(0xE000ED84u)
#define SCB_ICIALLU REG(0xE000EF50u)
#define SCB_DCISW REG(0xE000EF60u)
#define DEMCR REG(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CTRL_CYCCNTENA 1u
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)
#define DWT_LAR_KEY 0xC5ACCE55u

#ifndef TINYHIL_BAUD_RATE
#define TINYHIL_BAUD_RATE 115200u
#endif

const uint8_t platform_latency_unit = TINYHIL_UNIT_CYCLES;

/* Bounded wait for status bits: on silicon they set within microseconds (HSE: ~1 ms at most at 64 MHz,
 * well under the bound); Renode models PWR as a plain tag (CSR1 reads 0), where an unbounded loop would
 * hang the boot. Returns 1 when the bits reached the value. */
#define READY_SPINS 1000000u
static int wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    for (uint32_t spin = 0; spin < READY_SPINS; ++spin) {
        if ((*reg & mask) == value) {
            return 1;
        }
    }
    return 0;
}

static inline void barrier(void)
{
    __asm__ volatile("dsb\n isb" ::: "memory");
}

static struct h743_clocks clocks; /* what the registers say, after the boot's clock setup */
static int uart_ready;             /* a fault before usart3_on() must not wait forever for TXE */

/* ES0392 (revision Y): concurrent reads of the AXI SRAM can return wrong data; Cube's SystemInit sets
 * the AXI SRAM target's read issuing capability to 1 on REV_ID < 0x2000. .data, .bss and the arena live
 * in AXI SRAM, so this is the first thing platform_init does. */
static void axi_sram_erratum(uint32_t rev_id)
{
    if (!h743_supports_480mhz(rev_id)) {
        AXI_TARG7_FN_MOD = 1u;
        barrier();
    }
}

/* LDO supply, VOS1; then VOS0 (SYSCFG_PWRCR.ODEN) when the revision allows it. Returns 1 when VOS0 is
 * on (ODEN read back and VOSRDY), 0 when the chip stays at VOS1 (the 400 MHz plan). */
static int power_up(uint32_t rev_id)
{
    PWR_CR3 = (PWR_CR3 & ~(1u << 2)) | (1u << 1); /* LDOEN, SCUEN cleared: lock the supply configuration */
    (void)wait_bits(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY);
    PWR_D3CR |= (3u << 14);                        /* VOS1 */
    if (!wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY) || !h743_supports_480mhz(rev_id)) {
        return 0;
    }
    RCC_APB4ENR |= (1u << 1);                      /* SYSCFGEN */
    (void)RCC_APB4ENR;                             /* read back: the clock is on before SYSCFG is written */
    SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN;
    if (!(SYSCFG_PWRCR & SYSCFG_PWRCR_ODEN)) {
        return 0;
    }
    return wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY);
}

static int start_hse(void)
{
    RCC_CR |= RCC_CR_HSEBYP | RCC_CR_HSEON;        /* the ST-LINK's MCO drives OSC_IN */
    if (wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return 1;
    }
    RCC_CR &= ~RCC_CR_HSEON;                       /* no MCO on PH0 (ST-LINK MCO solder bridge open, UM2407): HSI */
    return 0;
}

static void clocks_up(uint32_t rev_id, int vos0_ready)
{
    const int hse_ready = start_hse();
    const struct h743_clock_plan wanted = h743_clock_plan(rev_id, vos0_ready, hse_ready, 1);
    RCC_PLLCKSELR = wanted.rcc_pllckselr;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu) | (2u << 2) | (7u << 16); /* RGE 4-8 MHz, wide VCO, P/Q/R on */
    RCC_PLL1DIVR = wanted.rcc_pll1divr;
    RCC_CR |= RCC_CR_PLL1ON;
    const int pll_locked = wait_bits(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY);
    const struct h743_clock_plan plan = h743_clock_plan(rev_id, vos0_ready, hse_ready, pll_locked);
    if (plan.use_pll) {
        FLASH_ACR = plan.flash_acr;                /* wait states first, then the faster clock */
        (void)wait_bits(&FLASH_ACR, 0x3Fu, plan.flash_acr);
        RCC_D1CFGR = plan.rcc_d1cfgr;              /* prescalers before the switch: no bus ever over its limit */
        RCC_D2CFGR = plan.rcc_d2cfgr;
        RCC_D3CFGR = plan.rcc_d3cfgr;
        RCC_CFGR = (RCC_CFGR & ~7u) | H743_SRC_PLL1;
        (void)wait_bits(&RCC_CFGR, 7u << 3, (uint32_t)H743_SRC_PLL1 << 3);
    } else {
        RCC_CR &= ~RCC_CR_PLL1ON;
    }
    /* whatever happened above, take the clock from what the hardware reports now */
    clocks = h743_clocks_from_registers(RCC_CR, RCC_CFGR, RCC_PLLCKSELR, RCC_PLL1DIVR, RCC_D1CFGR, RCC_D2CFGR,
                                        H743_HSE_HZ);
}

static void caches_on(void)
{
    barrier();
    SCB_ICIALLU = 0u;
    barrier();
    SCB_CCR |= (1u << 17);                        /* IC */
    SCB_CSSELR = 0u;                              /* level 1 data cache */
    barrier();
    const uint32_t ccsidr = SCB_CCSIDR;
    const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    for (uint32_t set = 0; set < sets; ++set) {
        for (uint32_t way = 0; way < ways; ++way) {
            SCB_DCISW = (set << 5) | (way << 30);
        }
    }
    barrier();
    SCB_CCR |= (1u << 16);                        /* DC */
    barrier();
}

static void usart3_on(void)
{
    RCC_AHB4ENR |= (1u << 3);                     /* GPIODEN */
    RCC_APB1LENR |= (1u << 18);                   /* USART3EN */
    (void)RCC_APB1LENR;
    GPIOD_MODER = (GPIOD_MODER & ~(0xFu << 16)) | (0xAu << 16);    /* PD8, PD9 alternate function */
    GPIOD_OSPEEDR |= (0xFu << 16);
    GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 0x77u;  /* AF7 = USART3 */
    USART_CR1 = 0u;
    const uint32_t brr = h743_usart_brr(clocks.pclk1_hz, TINYHIL_BAUD_RATE);
    USART_BRR = brr ? brr : 16u;                  /* out of reach: the fastest rate, garbage the host reports */
    USART_CR1 = (1u << 3) | (1u << 2) | 1u;       /* TE, RE, UE */
    uart_ready = 1;
}

/* TRCENA, the DWT unlock and CYCCNTENA. Run before every measurement, not once at boot: pyOCD's default
 * resume_on_disconnect writes DEMCR = 0 when `pyocd load` / `pyocd reset` close their session
 * (pyocd/coresight/cortex_m.py), after the firmware has booted, which stops DWT->CYCCNT. */
static void cycle_counter_on(void)
{
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = DWT_LAR_KEY;                        /* the M7's DWT is locked after reset */
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
}

void platform_init(void)
{
    const uint32_t rev_id = DBGMCU_IDC >> 16;
    axi_sram_erratum(rev_id);
    const int vos0_ready = power_up(rev_id);
    clocks_up(rev_id, vos0_ready);
    caches_on();
    usart3_on();
    cycle_counter_on();
}

uint32_t platform_cpu_hz(void)
{
    return clocks.cpu_hz;
}

void platform_putc(uint8_t byte)
{
    if (!uart_ready) {
        return;
    }
    while (!(USART_ISR & USART_ISR_TXE)) {
    }
    USART_TDR = byte;
}

void platform_flush(void)
{
    if (!uart_ready) {
        return;
    }
    /* TC: the last byte has left the shift register (bounded: a model without TC must not hang the fault path) */
    (void)wait_bits(&USART_ISR, USART_ISR_TC, USART_ISR_TC);
}

uint8_t platform_getc(void)
{
    for (;;) {
        const uint32_t isr = USART_ISR;
        if (isr & USART_ISR_ORE) {
            USART_ICR = USART_ISR_ORE; /* an overrun would stall RXNE; the protocol's CRC catches the loss */
        }
        if (isr & USART_ISR_RXNE) {
            return (uint8_t)USART_RDR;
        }
    }
}

static struct cycle_count cycles;

void platform_timer_start(void)
{
    cycle_counter_on();
    cycle_count_start(&cycles, DWT_CYCCNT);
}

uint64_t platform_elapsed(void)
{
    return cycle_count_elapsed(&cycles, DWT_CYCCNT);
}

void platform_exit(int code)
{
    (void)code; /* no host to report to without a debugger: reset and boot again */
    platform_reset();
}

void platform_reset(void)
{
    barrier();
    SCB_AIRCR = 0x05FA0004u;                      /* VECTKEY + SYSRESETREQ */
    barrier();
    for (;;) {
    }
}
