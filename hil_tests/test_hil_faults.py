"""Faults and the cycle counter on the target (QEMU in CI, the Nucleo with --board-hil): a UsageFault on purpose
is reported with its name and PC, not as a timeout, and the board boots again; a counter that reads 0 is
refused by the firmware; the latency counter still runs after the runner resets the target (on the Nucleo:
after `pyocd reset`, whose disconnect clears DEMCR); the hello reports the clock the BSP selected."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.dut import Dut
from tinyhil.hil.example_model import INPUT_BYTES, expected_output
from tinyhil.hil.faults import DeviceFaultError
from tinyhil.hil.protocol import DeviceReportedError
from tinyhil.hil.runners import runner_for


BSP_CLOCKS_HZ = {"stm32h743": {480_000_000, 400_000_000}}


def symbol_range(elf: Path, name: str) -> tuple[int, int]:
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    match = re.search(rf"^([0-9a-f]+) ([0-9a-f]+) T {name}$", symbols, re.MULTILINE)
    assert match, f"{name} not in {elf}"
    start = int(match.group(1), 16) & ~1
    return start, start + int(match.group(2), 16)


def test_a_usagefault_is_reported_with_its_name_and_pc_then_the_board_boots_again(profile, build_image,  # type: ignore[no-untyped-def]
                                                                                  tmp_path: Path) -> None:
    image = build_image("fault")
    start, end = symbol_range(image.elf, "tinyhil_test_fault")
    dut = Dut(runner_for(profile, tmp_path), image.elf, timeout_s=10.0, retries=0)
    dut.launch()
    try:
        with pytest.raises(DeviceFaultError) as caught:
            dut.infer(np.zeros(INPUT_BYTES, np.int8))
        fault = caught.value.fault
        assert fault.name == "UsageFault" and "UNDEFINSTR" in fault.causes
        assert start <= fault.pc < end  # the udf instruction inside tinyhil_test_fault
        assert caught.value.where is not None and caught.value.where.startswith("tinyhil_test_fault")  # addr2line
        assert f"UsageFault at PC {fault.pc:#010x}" in str(caught.value)
        assert dut.hello().input_bytes == INPUT_BYTES  # the fault handler reset the core: a fresh boot answers
    finally:
        dut.close()


def test_the_latency_counter_runs_after_the_runner_resets_the_target(dut: Dut) -> None:
    x = np.arange(INPUT_BYTES, dtype=np.int8)
    before = dut.infer(x)
    dut.reset()  # on the Nucleo: `pyocd reset`, whose disconnect then writes DEMCR = 0
    after = dut.infer(x)
    assert before.latency > 0 and after.latency > 0 and np.array_equal(after.output, expected_output(x))


def test_a_counter_that_reads_0_is_refused_by_the_firmware_not_sent_as_a_latency(profile, build_image,  # type: ignore[no-untyped-def]
                                                                               tmp_path: Path) -> None:
    dut = Dut(runner_for(profile, tmp_path), build_image("timer-stopped").elf, timeout_s=10.0, retries=0)
    dut.launch()
    try:
        with pytest.raises(DeviceReportedError, match="TIMER_STOPPED") as caught:
            dut.infer(np.zeros(INPUT_BYTES, np.int8))
    finally:
        dut.close()
    assert "DWT->CYCCNT stops when a debugger" in str(caught.value)


def test_the_hello_reports_the_clock_the_bsp_selected(dut: Dut, profile) -> None:  # type: ignore[no-untyped-def]
    # the STM32H743 BSP: 480 MHz on revision V, 400 MHz on revision Y (no VOS0); never its 64 MHz fallback,
    # which means the PLL did not lock. Other BSPs run at the profile's clock.
    allowed = BSP_CLOCKS_HZ.get(profile.bsp, {profile.clock_hz})
    assert dut.hello_frame.cpu_hz in allowed
