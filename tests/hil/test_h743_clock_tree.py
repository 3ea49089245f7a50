"""The STM32H743 BSP's clock choice, UART divisor and 64-bit cycle count, compiled for the host and
checked as pure functions: what the Nucleo does when the silicon is revision Y or V, when HSE (the
ST-LINK's MCO) is missing and when the PLL does not lock; BRR from the clock the registers say was
selected; the cycle count across 32-bit wraps."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from tinyhil.hil.firmware import FIRMWARE_DIR

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not on PATH")

REV_Y, REV_V = 0x1003, 0x2003
BAUD = 115200


class Plan(ctypes.Structure):
    _fields_ = [("rev_id", ctypes.c_uint32), ("overdrive", ctypes.c_uint8), ("pll_source", ctypes.c_uint8),
                ("use_pll", ctypes.c_uint8), ("divm", ctypes.c_uint8), ("divn", ctypes.c_uint16),
                ("divp", ctypes.c_uint8), ("flash_latency", ctypes.c_uint8), ("flash_wrhighfreq", ctypes.c_uint8),
                ("vco_hz", ctypes.c_uint32), ("sysclk_hz", ctypes.c_uint32),
                ("rcc_pllckselr", ctypes.c_uint32), ("rcc_pll1divr", ctypes.c_uint32), ("rcc_d1cfgr", ctypes.c_uint32),
                ("rcc_d2cfgr", ctypes.c_uint32), ("rcc_d3cfgr", ctypes.c_uint32), ("flash_acr", ctypes.c_uint32)]


class Clocks(ctypes.Structure):
    _fields_ = [("sysclk_hz", ctypes.c_uint32), ("cpu_hz", ctypes.c_uint32), ("hclk_hz", ctypes.c_uint32),
                ("pclk1_hz", ctypes.c_uint32)]


class CycleCount(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint32), ("last", ctypes.c_uint32), ("wraps", ctypes.c_uint32)]


@pytest.fixture(scope="module")
def bsp(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    library = tmp_path_factory.mktemp("h743") / "libh743.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{FIRMWARE_DIR / 'bsp' / 'stm32h743'}", f"-I{FIRMWARE_DIR / 'harness'}",
                    str(FIRMWARE_DIR / "bsp" / "stm32h743" / "clock_tree.c"), str(FIRMWARE_DIR / "harness" / "cycle_count.c"),
                    "-o", str(library)], check=True)
    lib = ctypes.CDLL(str(library))
    u32 = ctypes.c_uint32
    lib.h743_clock_plan.restype, lib.h743_clock_plan.argtypes = Plan, [u32, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.h743_clocks_from_registers.restype = Clocks
    lib.h743_clocks_from_registers.argtypes = [u32] * 7
    lib.h743_usart_brr.restype, lib.h743_usart_brr.argtypes = u32, [u32, u32]
    lib.cycle_count_start.argtypes = [ctypes.POINTER(CycleCount), u32]
    lib.cycle_count_elapsed.restype = ctypes.c_uint64
    lib.cycle_count_elapsed.argtypes = [ctypes.POINTER(CycleCount), u32]
    return lib


def boot(bsp: ctypes.CDLL, rev_id: int, vos0_ready: bool, hse_ready: bool, pll_locked: bool) -> tuple[Plan, Clocks]:
    """What platform.c does: the plan, its registers written, the clocks read back from them
    (RCC_CFGR.SWS = PLL1 only when the switch happened; RCC_CR with HSIDIV /1)."""
    plan = bsp.h743_clock_plan(rev_id, vos0_ready, hse_ready, pll_locked)
    cfgr = (3 << 3 | 3) if plan.use_pll else 0
    return plan, bsp.h743_clocks_from_registers(0, cfgr, plan.rcc_pllckselr, plan.rcc_pll1divr, plan.rcc_d1cfgr,
                                                plan.rcc_d2cfgr, 8_000_000)


def test_revision_v_with_the_st_link_clock_runs_at_480_mhz_with_vos0_and_4_wait_states(bsp: ctypes.CDLL) -> None:
    plan, clocks = boot(bsp, REV_V, vos0_ready=True, hse_ready=True, pll_locked=True)
    assert (plan.overdrive, plan.pll_source, plan.divm, plan.divn, plan.divp, plan.vco_hz) == (1, 2, 2, 240, 2, 960_000_000)
    assert (plan.flash_latency, plan.flash_wrhighfreq) == (4, 2)  # RM0433 table 17: 225-240 MHz AXI at VOS0
    assert (clocks.cpu_hz, clocks.hclk_hz, clocks.pclk1_hz) == (480_000_000, 240_000_000, 120_000_000)
    assert bsp.h743_usart_brr(clocks.pclk1_hz, BAUD) == 1042  # 120 MHz / 115200 = 1041.7


def test_revision_y_never_gets_oden_and_runs_at_400_mhz_with_the_vco_under_836_mhz(bsp: ctypes.CDLL) -> None:
    plan, clocks = boot(bsp, REV_Y, vos0_ready=True, hse_ready=True, pll_locked=True)
    assert (plan.overdrive, plan.divn, plan.vco_hz) == (0, 200, 800_000_000) and plan.vco_hz <= 836_000_000
    assert (plan.flash_latency, plan.flash_wrhighfreq) == (2, 2)  # 200 MHz AXI at VOS1
    assert (clocks.cpu_hz, clocks.pclk1_hz) == (400_000_000, 100_000_000)
    assert bsp.h743_usart_brr(clocks.pclk1_hz, BAUD) == 868


def test_revision_v_whose_oden_did_not_read_back_falls_to_the_400_mhz_plan(bsp: ctypes.CDLL) -> None:
    plan, clocks = boot(bsp, REV_V, vos0_ready=False, hse_ready=True, pll_locked=True)
    assert (plan.overdrive, clocks.cpu_hz) == (0, 400_000_000)


def test_without_hse_the_pll_runs_from_hsi_at_the_same_frequency(bsp: ctypes.CDLL) -> None:
    plan, clocks = boot(bsp, REV_V, vos0_ready=True, hse_ready=False, pll_locked=True)
    assert (plan.pll_source, plan.divm) == (0, 16)  # 64 MHz / 16 = the same 4 MHz reference
    assert clocks.cpu_hz == 480_000_000


@pytest.mark.parametrize("rev_id", [REV_Y, REV_V])
def test_a_pll_that_does_not_lock_leaves_hsi_64_mhz_and_the_uart_divisor_follows_it(bsp: ctypes.CDLL, rev_id: int) -> None:
    plan, clocks = boot(bsp, rev_id, vos0_ready=True, hse_ready=True, pll_locked=False)
    assert (plan.use_pll, plan.rcc_d1cfgr, plan.rcc_d2cfgr) == (0, 0, 0)
    assert (clocks.sysclk_hz, clocks.cpu_hz, clocks.pclk1_hz) == (64_000_000, 64_000_000, 64_000_000)
    brr = bsp.h743_usart_brr(clocks.pclk1_hz, BAUD)
    assert brr == 556 and abs(64_000_000 / brr - BAUD) / BAUD < 0.01  # the old BRR fixed for 120 MHz (1042) gave ~15 kbaud on HSI


def test_the_clock_is_decoded_from_sws_and_the_prescalers_not_from_the_request(bsp: ctypes.CDLL) -> None:
    plan = bsp.h743_clock_plan(REV_V, True, True, True)
    # the switch to PLL1 did not happen (SWS still HSI) although PLL registers and prescalers are set
    clocks = bsp.h743_clocks_from_registers(0, 3, plan.rcc_pllckselr, plan.rcc_pll1divr, plan.rcc_d1cfgr,
                                            plan.rcc_d2cfgr, 8_000_000)
    assert (clocks.cpu_hz, clocks.hclk_hz, clocks.pclk1_hz) == (64_000_000, 32_000_000, 16_000_000)
    assert bsp.h743_clocks_from_registers(2 << 3, 0, 0, 0, 0, 0, 0).sysclk_hz == 16_000_000  # HSIDIV /4
    assert bsp.h743_clocks_from_registers(0, 2 << 3, 0, 0, 0xC00, 0, 8_000_000).cpu_hz == 125_000  # HSE / D1CPRE 64


def test_a_baud_rate_out_of_reach_gives_no_divisor(bsp: ctypes.CDLL) -> None:
    assert bsp.h743_usart_brr(16_000_000, 2_000_000) == 0  # BRR 8 < 16 needs 8x oversampling
    assert bsp.h743_usart_brr(480_000_000, 1200) == 0  # 400,000 does not fit the 16-bit BRR
    assert bsp.h743_usart_brr(0, BAUD) == 0


def test_the_cycle_count_extends_past_32_bits_across_wraps(bsp: ctypes.CDLL) -> None:
    count = CycleCount()
    start = 0xFFFF_FF00  # the counter free-runs: a measurement may start just before a wrap
    bsp.cycle_count_start(ctypes.byref(count), start)
    reads, expected, raw = [], [], start
    for step in (0x100, 0xFFFF_0000, 0x1_0000, 0x8000_0000, 0x8000_0000, 5):  # each step < 2^32: one read per wrap
        raw = (raw + step) & 0xFFFF_FFFF
        reads.append(bsp.cycle_count_elapsed(ctypes.byref(count), raw))
        expected.append((expected[-1] if expected else 0) + step)
    assert reads == expected
    assert reads[-1] > 2**33  # 8.6e9 cycles: 17.9 s at 480 MHz, twice what a 32-bit count holds


def test_reading_twice_without_a_wrap_counts_no_wrap(bsp: ctypes.CDLL) -> None:
    count = CycleCount()
    bsp.cycle_count_start(ctypes.byref(count), 1000)
    assert [bsp.cycle_count_elapsed(ctypes.byref(count), raw) for raw in (1000, 1500, 1500)] == [0, 500, 500]
