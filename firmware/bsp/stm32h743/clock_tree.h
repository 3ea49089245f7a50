/* STM32H743 clock tree as pure functions (no register access), so the choice of clock and the
 * UART divisor are unit-tested on the host (tests/hil/test_h743_clock_tree.py compiles this file
 * with the host gcc). platform.c reads the hardware, calls these, and writes what they return.
 *
 * Sources: RM0433 rev 8 (RCC 8.7, PWR 6.8, FLASH table 17), ES0392 (revision Y: no VOS0 and at most
 * 400 MHz; VCO up to 836 MHz), STM32CubeH7 system_stm32h7xx.c (REV_ID < 0x2000 is revision Y or older). */
#ifndef TINYHIL_H743_CLOCK_TREE_H
#define TINYHIL_H743_CLOCK_TREE_H

#include <stdint.h>

#define H743_HSI_HZ 64000000u /* HSI at HSIDIV /1, the clock out of reset */
#define H743_CSI_HZ 4000000u
#define H743_HSE_HZ 8000000u  /* NUCLEO-H743ZI: the ST-LINK's 8 MHz MCO on PH0, HSE in bypass mode */
#define H743_REV_V 0x2003u
#define H743_REV_Y 0x1003u

/* RCC_PLLCKSELR.PLLSRC and RCC_CFGR.SW/SWS codes */
enum h743_clock_source { H743_SRC_HSI = 0, H743_SRC_CSI = 1, H743_SRC_HSE = 2, H743_SRC_PLL1 = 3 };

struct h743_clock_plan {
    uint32_t rev_id;            /* DBGMCU_IDC.REV_ID as read */
    uint8_t overdrive;          /* 1: VOS0 via SYSCFG_PWRCR.ODEN (480 MHz); never on revision Y */
    uint8_t pll_source;         /* H743_SRC_HSE or H743_SRC_HSI */
    uint8_t use_pll;            /* 1: switch SW to PLL1; 0: stay on HSI (the fallback when the PLL did not lock) */
    uint8_t divm;               /* PLL1 reference = source / divm = 4 MHz (PLL1RGE 4-8 MHz) */
    uint16_t divn;              /* VCO = reference x divn (wide range) */
    uint8_t divp;               /* sys_ck = VCO / divp */
    uint8_t flash_latency;      /* FLASH_ACR.LATENCY for the AXI clock chosen */
    uint8_t flash_wrhighfreq;   /* FLASH_ACR.WRHIGHFREQ */
    uint32_t vco_hz;
    uint32_t sysclk_hz;         /* what the core will run at (D1CPRE /1) */
    uint32_t rcc_pllckselr;     /* register values platform.c writes */
    uint32_t rcc_pll1divr;
    uint32_t rcc_d1cfgr;
    uint32_t rcc_d2cfgr;
    uint32_t rcc_d3cfgr;
    uint32_t flash_acr;
};

/* 1 when the silicon revision supports VOS0 / 480 MHz (revision V and later: REV_ID >= 0x2000). */
int h743_supports_480mhz(uint32_t rev_id);

/* The clock configuration for this chip: 480 MHz on revision V, 400 MHz on revision Y (or when VOS0 could
 * not be reached), from HSE when it started, else from HSI; with pll_locked == 0 the fallback: HSI 64 MHz
 * and every bus prescaler at /1. The boot calls it with pll_locked = 1 to configure the PLL, then again with
 * what PLL1RDY said. */
struct h743_clock_plan h743_clock_plan(uint32_t rev_id, int vos0_ready, int hse_ready, int pll_locked);

struct h743_clocks {
    uint32_t sysclk_hz; /* sys_ck: the source RCC_CFGR.SWS names */
    uint32_t cpu_hz;    /* sys_ck / D1CPRE: what DWT->CYCCNT counts */
    uint32_t hclk_hz;   /* / HPRE: AXI and AHB */
    uint32_t pclk1_hz;  /* / D2PPRE1: APB1, USART3's kernel clock (RCC_D2CCIP2R.USART234578SEL = 0) */
};

/* The clocks the chip is actually running at, decoded from the registers (not from what was asked for). */
struct h743_clocks h743_clocks_from_registers(uint32_t rcc_cr, uint32_t rcc_cfgr, uint32_t rcc_pllckselr,
                                              uint32_t rcc_pll1divr, uint32_t rcc_d1cfgr, uint32_t rcc_d2cfgr,
                                              uint32_t hse_hz);

/* USART BRR for 16x oversampling, rounded to the nearest divisor; 0 when the baud rate is out of reach
 * (BRR < 16) or the clock is 0. */
uint32_t h743_usart_brr(uint32_t kernel_hz, uint32_t baud);

#endif
