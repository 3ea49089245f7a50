/* STM32H743 (NUCLEO-H743ZI): 480 MHz from the ST-LINK's 8 MHz MCO (HSE bypass) through PLL1,
 * VOS0, 4 flash wait states, I/D caches on, USART3 on PD8/PD9 (AF7, the ST-LINK virtual COM
 * port) at 115200 baud, DWT->CYCCNT as the cycle counter. Register addresses and bit fields
 * from RM0433 rev 8 and the Cortex-M7 TRM. */
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

#define PWR_BASE 0x58024800u
#define PWR_CSR1 REG(PWR_BASE + 0x04u)
#define PWR_CR3 REG(PWR_BASE + 0x0Cu)
#define PWR_D3CR REG(PWR_BASE + 0x18u)
#define SYSCFG_PWRCR REG(0x58000400u + 0x2Cu)
#define FLASH_ACR REG(0x52002000u)

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
#define USART_ISR_TXE (1u << 7)

#define SCB_CCR REG(0xE000ED14u)
#define SCB_AIRCR REG(0xE000ED0Cu)
#define SCB_CCSIDR REG(0xE000ED80u)
#define SCB_CSSELR REG(0xE000ED84u)
#define SCB_ICIALLU REG(0xE000EF50u)
#define SCB_DCISW REG(0xE000EF60u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)

#define PCLK1_HZ 120000000u /* 480 MHz / HPRE 2 / D2PPRE1 2 */
#define BAUD_RATE 115200u

const uint8_t platform_latency_unit = TINYHIL_UNIT_CYCLES;

/* Bounded wait for status bits: on silicon they set within microseconds; Renode models PWR as a
 * plain tag (CSR1 reads 0), where an unbounded loop would hang the boot. */
#define READY_SPINS 1000000u
static void wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    for (uint32_t spin = 0; spin < READY_SPINS && (*reg & mask) != value; ++spin) {
    }
}

static inline void barrier(void)
{
    __asm__ volatile("dsb\n isb" ::: "memory");
}

static void power_up_to_vos0(void)
{
    PWR_CR3 = (PWR_CR3 & ~(1u << 2)) | (1u << 1); /* LDO supply, SCUEN cleared: lock the supply config */
    wait_bits(&PWR_CSR1, 1u << 13, 1u << 13);      /* ACTVOSRDY */
    PWR_D3CR |= (3u << 14);                       /* VOS1 */
    wait_bits(&PWR_D3CR, 1u << 13, 1u << 13);      /* VOSRDY */
    RCC_APB4ENR |= (1u << 1);                     /* SYSCFGEN */
    SYSCFG_PWRCR |= 1u;                           /* ODEN: VOS0, needed above 400 MHz */
    wait_bits(&PWR_D3CR, 1u << 13, 1u << 13);
}

static void clocks_to_480mhz(void)
{
    RCC_CR |= (1u << 18) | (1u << 16);            /* HSEBYP + HSEON: 8 MHz MCO of the ST-LINK */
    wait_bits(&RCC_CR, 1u << 17, 1u << 17);        /* HSERDY */
    RCC_PLLCKSELR = (32u << 20) | (32u << 12) | (2u << 4) | 2u; /* DIVM1 = 2 -> 4 MHz ref, src HSE */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu) | (2u << 2) | (7u << 16); /* RGE 4-8 MHz, wide VCO, P/Q/R on */
    RCC_PLL1DIVR = (1u << 24) | (3u << 16) | (1u << 9) | (240u - 1u); /* VCO 960 MHz, P = 2 -> 480 MHz */
    RCC_CR |= (1u << 24);                         /* PLL1ON */
    wait_bits(&RCC_CR, 1u << 25, 1u << 25);        /* PLL1RDY */
    FLASH_ACR = (2u << 4) | 4u;                   /* WRHIGHFREQ 2, 4 wait states at VOS0 / 240 MHz AXI */
    wait_bits(&FLASH_ACR, 0xFu, 4u);
    RCC_D1CFGR = (4u << 4) | 8u;                  /* D1PPRE /2, HPRE /2: AXI/AHB 240 MHz, APB3 120 MHz */
    RCC_D2CFGR = (4u << 8) | (4u << 4);           /* APB1, APB2 120 MHz */
    RCC_D3CFGR = (4u << 4);                       /* APB4 120 MHz */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;             /* SW = PLL1 */
    wait_bits(&RCC_CFGR, 7u << 3, 3u << 3);        /* SWS = PLL1 */
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
    USART_BRR = (PCLK1_HZ + BAUD_RATE / 2u) / BAUD_RATE;
    USART_CR1 = (1u << 3) | (1u << 2) | 1u;       /* TE, RE, UE */
}

static void cycle_counter_on(void)
{
    DEMCR |= (1u << 24);                          /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;                        /* the M7's DWT is locked after reset */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;
}

void platform_init(void)
{
    power_up_to_vos0();
    clocks_to_480mhz();
    caches_on();
    usart3_on();
    cycle_counter_on();
}

void platform_putc(uint8_t byte)
{
    while (!(USART_ISR & USART_ISR_TXE)) {
    }
    USART_TDR = byte;
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

static uint32_t timer_start_cycles;

void platform_timer_start(void)
{
    timer_start_cycles = DWT_CYCCNT;
}

uint64_t platform_elapsed(void)
{
    return (uint32_t)(DWT_CYCCNT - timer_start_cycles); /* wraps after 2^32 cycles = 8.9 s at 480 MHz */
}

void platform_exit(int code)
{
    (void)code; /* no host to report to without a debugger: reset and boot again */
    SCB_AIRCR = 0x05FA0004u;                      /* VECTKEY + SYSRESETREQ */
    for (;;) {
    }
}
