/* Pure clock-tree arithmetic for the STM32H743 (see clock_tree.h): compiled into the firmware and, for
 * the unit tests, with the host gcc. Register layouts: RM0433 rev 8 section 8.7. */
#include "clock_tree.h"

#define PLL_REFERENCE_HZ 4000000u /* PLL1RGE = 4-8 MHz; both 8 MHz HSE / 2 and 64 MHz HSI / 16 give it */
#define DIVM_RESET 32u            /* DIVM2, DIVM3 left at their reset value */

int h743_supports_480mhz(uint32_t rev_id)
{
    return rev_id >= 0x2000u; /* Cube's test: below 0x2000 is revision Y (0x1003) or Z (0x1001) */
}

/* FLASH_ACR for an AXI clock (RM0433 table 17, VOS0/VOS1 columns); 240 MHz needs VOS0. */
static void flash_wait_states(uint32_t aclk_hz, uint8_t *latency, uint8_t *wrhighfreq)
{
    static const struct { uint32_t max_hz; uint8_t latency, wrhighfreq; } table[] = {
        {70000000u, 0u, 0u}, {140000000u, 1u, 1u}, {185000000u, 2u, 1u},
        {210000000u, 2u, 2u}, {225000000u, 3u, 2u}, {240000000u, 4u, 2u},
    };
    for (unsigned i = 0; i < sizeof table / sizeof table[0]; ++i) {
        if (aclk_hz <= table[i].max_hz) {
            *latency = table[i].latency;
            *wrhighfreq = table[i].wrhighfreq;
            return;
        }
    }
    *latency = 7u; /* out of the table: the slowest setting, the one out of reset */
    *wrhighfreq = 3u;
}

struct h743_clock_plan h743_clock_plan(uint32_t rev_id, int vos0_ready, int hse_ready, int pll_locked)
{
    struct h743_clock_plan plan = {0};
    plan.rev_id = rev_id;
    plan.overdrive = (uint8_t)(h743_supports_480mhz(rev_id) && vos0_ready);
    plan.pll_source = hse_ready ? H743_SRC_HSE : H743_SRC_HSI;
    plan.divm = (uint8_t)((hse_ready ? H743_HSE_HZ : H743_HSI_HZ) / PLL_REFERENCE_HZ);
    /* 480 MHz = 4 MHz x 240 / 2 (VCO 960 MHz, rev V only); 400 MHz = 4 MHz x 200 / 2 (VCO 800 MHz <= 836) */
    plan.divn = plan.overdrive ? 240u : 200u;
    plan.divp = 2u;
    plan.vco_hz = PLL_REFERENCE_HZ * plan.divn;
    plan.use_pll = (uint8_t)(pll_locked != 0);
    plan.rcc_pllckselr = (DIVM_RESET << 20) | (DIVM_RESET << 12) | ((uint32_t)plan.divm << 4) | plan.pll_source;
    /* DIVR1 /2, DIVQ1 /4, DIVP1, DIVN1: each field holds the divider minus one */
    plan.rcc_pll1divr = (1u << 24) | (3u << 16) | ((uint32_t)(plan.divp - 1u) << 9) | (uint32_t)(plan.divn - 1u);
    if (plan.use_pll) {
        plan.sysclk_hz = plan.vco_hz / plan.divp;
        /* HPRE /2 (AXI/AHB at most 240 MHz), D1PPRE, D2PPRE1/2, D3PPRE /2 (APBs at most 120 MHz) */
        plan.rcc_d1cfgr = (4u << 4) | 8u;
        plan.rcc_d2cfgr = (4u << 8) | (4u << 4);
        plan.rcc_d3cfgr = (4u << 4);
    } else {
        plan.sysclk_hz = H743_HSI_HZ; /* every prescaler /1: 64 MHz everywhere, well inside every limit */
    }
    flash_wait_states(plan.use_pll ? plan.sysclk_hz / 2u : plan.sysclk_hz, &plan.flash_latency,
                      &plan.flash_wrhighfreq);
    plan.flash_acr = ((uint32_t)plan.flash_wrhighfreq << 4) | plan.flash_latency;
    return plan;
}

/* D1CPRE / HPRE: 0xxx = /1, 1000 = /2, 1001 = /4, ... 1011 = /16, 1100 = /64, ... 1111 = /512 (no /32) */
static uint32_t ahb_divider(uint32_t field)
{
    if (field < 8u) {
        return 1u;
    }
    const uint32_t shift = field - 7u;
    return 1u << (shift >= 5u ? shift + 1u : shift);
}

/* D2PPRE1 and friends: 0xx = /1, 100 = /2, 101 = /4, 110 = /8, 111 = /16 */
static uint32_t apb_divider(uint32_t field)
{
    return field < 4u ? 1u : 1u << (field - 3u);
}

static uint32_t source_hz(uint32_t source, uint32_t rcc_cr, uint32_t hse_hz)
{
    switch (source) {
    case H743_SRC_HSI:
        return H743_HSI_HZ >> ((rcc_cr >> 3) & 3u); /* HSIDIV */
    case H743_SRC_CSI:
        return H743_CSI_HZ;
    case H743_SRC_HSE:
        return hse_hz;
    default:
        return 0u;
    }
}

struct h743_clocks h743_clocks_from_registers(uint32_t rcc_cr, uint32_t rcc_cfgr, uint32_t rcc_pllckselr,
                                              uint32_t rcc_pll1divr, uint32_t rcc_d1cfgr, uint32_t rcc_d2cfgr,
                                              uint32_t hse_hz)
{
    struct h743_clocks clocks = {0};
    const uint32_t sws = (rcc_cfgr >> 3) & 7u;
    if (sws == H743_SRC_PLL1) {
        const uint32_t divm = (rcc_pllckselr >> 4) & 0x3Fu;
        const uint32_t reference = divm ? source_hz(rcc_pllckselr & 3u, rcc_cr, hse_hz) / divm : 0u;
        const uint32_t divn = (rcc_pll1divr & 0x1FFu) + 1u;
        const uint32_t divp = ((rcc_pll1divr >> 9) & 0x7Fu) + 1u;
        clocks.sysclk_hz = (uint32_t)((uint64_t)reference * divn / divp); /* fractional part unused (FRACEN 0) */
    } else {
        clocks.sysclk_hz = source_hz(sws, rcc_cr, hse_hz);
    }
    clocks.cpu_hz = clocks.sysclk_hz / ahb_divider((rcc_d1cfgr >> 8) & 0xFu);
    clocks.hclk_hz = clocks.cpu_hz / ahb_divider(rcc_d1cfgr & 0xFu);
    clocks.pclk1_hz = clocks.hclk_hz / apb_divider((rcc_d2cfgr >> 4) & 7u);
    return clocks;
}

uint32_t h743_usart_brr(uint32_t kernel_hz, uint32_t baud)
{
    if (baud == 0u) {
        return 0u;
    }
    const uint32_t brr = (uint32_t)(((uint64_t)kernel_hz + baud / 2u) / baud);
    return brr >= 16u && brr <= 0xFFFFu ? brr : 0u;
}
