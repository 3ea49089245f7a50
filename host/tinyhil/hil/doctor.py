"""`tinyhil doctor`: a bench self-test, one Check per step, each saying what to do when it fails.

probe/target (the runner's preflight: UID, probe firmware, part and silicon revision over SWD) ->
firmware (the tiny_dense example built for the profile) -> hello (flashed, hello received at the
profile's baud) -> clock (what the firmware says it runs at) -> counter (the latency counter advances
in two inferences) -> bit-exact (outputs equal the host twin's). A failed step skips the ones after it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DeviceTimeoutError, TinyhilError
from .boards import BoardProfile
from .checks import Check
from .dut import Dut
from .example_model import INPUT_BYTES, MODEL_HASH, expected_output
from .faults import DeviceFaultError
from .firmware import EXAMPLE_MODEL_DIR, build_firmware
from .runners import runner_for

STEPS = ("firmware", "hello", "clock", "counter", "bit-exact")
ROUND_TRIP_INPUTS = 8  # random inputs, plus all -128 and all 127
HSI_FALLBACK_HZ = 64_000_000  # the STM32H7 BSP's clock when its PLL does not lock


def _skipped(steps: tuple[str, ...], after: str) -> Iterator[Check]:
    for step in steps:
        yield Check(step, "skip", f"not run: {after} failed")


def _no_hello(exc: DeviceTimeoutError, profile: BoardProfile) -> Check:
    baud = profile.serial.get("baudrate", 115200)
    if not exc.last_bytes:
        return Check("hello", "FAIL", f"no byte arrived at {baud} baud within the hello timeout",
                     "the firmware is not running or this is not its UART: press the black reset button, check the "
                     "port (the ST-LINK's virtual COM port, USART3) and that no other program holds it")
    return Check("hello", "FAIL", f"{len(exc.last_bytes)} bytes arrived at {baud} baud but no valid frame "
                 f"(last: {exc.last_bytes[-16:].hex(' ')})",
                 "a baud-rate mismatch: the firmware's UART clock is not what its divisor assumes (HSE / PLL) or the "
                 f"profile's [serial] baudrate is not the firmware's; rebuild with this tinyhil. Log: {exc.log_path}")


def run_doctor(profile: BoardProfile, workdir: Path, timeout_s: float = 30.0) -> Iterator[Check]:
    """Yield one Check per step as it completes (so a slow flash shows progress)."""
    runner = runner_for(profile, Path(workdir) / "run")
    for check in runner.preflight():
        yield check
        if check.failed:
            yield from _skipped(STEPS, check.step)
            return
    try:
        image = build_firmware(EXAMPLE_MODEL_DIR, profile, Path(workdir) / "build")
    except TinyhilError as exc:
        yield Check("firmware", "FAIL", str(exc).splitlines()[0], "run scripts/install.sh (arm-none-eabi-gcc, cmake)")
        yield from _skipped(STEPS[1:], "firmware")
        return
    yield Check("firmware", "ok", f"bench firmware built ({image.flash_bytes} B flash, {image.static_ram_bytes} B "
                f"static RAM; {image.toolchain})")
    dut = Dut(runner, image.elf, timeout_s=timeout_s, hello_timeout_s=10.0, retries=1)
    try:
        yield from _on_target(dut, profile)
    finally:
        dut.close()


def _on_target(dut: Dut, profile: BoardProfile) -> Iterator[Check]:
    try:
        hello = dut.launch()
    except DeviceFaultError as exc:
        yield Check("hello", "FAIL", f"the firmware crashed while booting: {exc.fault.describe()}",
                    "report this with the line above (the BSP's clock or power setup faulted)")
        yield from _skipped(STEPS[2:], "hello")
        return
    except DeviceTimeoutError as exc:
        yield _no_hello(exc, profile)
        yield from _skipped(STEPS[2:], "hello")
        return
    except TinyhilError as exc:
        yield Check("hello", "FAIL", str(exc).splitlines()[0], "see the runner log in the doctor's work folder")
        yield from _skipped(STEPS[2:], "hello")
        return
    if hello.model_hash != MODEL_HASH:
        yield Check("hello", "FAIL", f"the firmware answering is not the one just flashed (model {hello.model_hash[:12]})",
                    "flashing did not take: power-cycle the board (unplug USB) and run doctor again")
        yield from _skipped(STEPS[2:], "hello")
        return
    yield Check("hello", "ok", f"hello at {profile.serial.get('baudrate', 115200)} baud: protocol v{hello.version}, "
                f"latency in {hello.latency_unit}, {hello.stack_bytes} B stack")
    yield _clock(hello.cpu_hz, profile)
    yield from _measurements(dut, hello.latency_unit)


def _clock(cpu_hz: int, profile: BoardProfile) -> Check:
    if cpu_hz <= 0:
        return Check("clock", "FAIL", "the firmware reports a core clock of 0 Hz",
                     "its BSP's platform_cpu_hz() is broken: no time figure can be trusted; report it")
    mhz, expected = cpu_hz / 1e6, profile.clock_hz / 1e6
    if cpu_hz == profile.clock_hz:
        return Check("clock", "ok", f"the firmware runs at {mhz:g} MHz, as the profile says")
    if cpu_hz == HSI_FALLBACK_HZ and profile.kind == "board":
        return Check("clock", "FAIL", f"the firmware runs at {mhz:g} MHz (HSI): the PLL did not lock, not the "
                     f"profile's {expected:g} MHz", "HSE is the ST-LINK's 8 MHz MCO: check the MCO solder bridges "
                     "(board user manual, 'HSE clock') and the ST-LINK firmware; cycle counts stay right meanwhile")
    return Check("clock", "warn", f"the firmware runs at {mhz:g} MHz, not the profile's {expected:g} MHz",
                 "cycle counts are right; any time figure must use the reported clock (revision Y silicon: 400 MHz)")


def _measurements(dut: Dut, unit: str) -> Iterator[Check]:
    rng = np.random.default_rng(0)
    inputs = [*rng.integers(-128, 128, size=(ROUND_TRIP_INPUTS, INPUT_BYTES), dtype=np.int8),
              np.full(INPUT_BYTES, -128, np.int8), np.full(INPUT_BYTES, 127, np.int8)]
    try:
        results = [dut.infer(x) for x in inputs]
    except TinyhilError as exc:
        yield Check("counter", "FAIL", str(exc).splitlines()[0],
                    "a latency of 0 means the cycle counter stopped (rebuild with this tinyhil); a timeout or crash: "
                    "see the line above and the serial log")
        yield from _skipped(("bit-exact",), "counter")
        return
    first, second = results[0].latency, results[1].latency
    yield Check("counter", "ok", f"the counter advances: {first} and {second} {unit} for the first two inferences")
    wrong = [i for i, (x, r) in enumerate(zip(inputs, results)) if not np.array_equal(r.output, expected_output(x))]
    if wrong:
        yield Check("bit-exact", "FAIL", f"{len(wrong)} of {len(inputs)} outputs differ from the host twin "
                    f"(first: input #{wrong[0]})", "bytes are corrupted in RAM or on the line: check the AXI SRAM "
                    "erratum (revision Y) and the USB cable; run doctor again")
        return
    yield Check("bit-exact", "ok", f"{len(inputs)} of {len(inputs)} outputs equal the host twin bit for bit")
