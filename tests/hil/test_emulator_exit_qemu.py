"""The emulator exiting in the middle of a run (a firmware that ends itself through semihosting, as a crash
that QEMU turns into an exit would): the host sees the serial link close at once, restarts the emulator
through its runner once, and then names the exit status and the runner log instead of waiting out a timeout."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.hil.dut import Dut
from tinyhil.errors import DeviceTimeoutError
from tinyhil.hil.example_model import INPUT_BYTES
from tinyhil.hil.firmware import EXAMPLE_MODEL_DIR, build_firmware
from tinyhil.hil.runners import runner_for

pytestmark = pytest.mark.qemu

EXIT_STATUS = 6  # what the harness's "exit" mode passes to platform_exit (firmware/harness/main.c)


def test_an_emulator_that_exits_mid_inference_is_named_with_its_status_and_log(tmp_path: Path) -> None:
    profile = load_profile("qemu-m7")
    image = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path / "fw", harness_mode="exit")
    runner = runner_for(profile, tmp_path / "run")
    dut = Dut(runner, image.elf, timeout_s=30.0)
    dut.launch()
    started = time.monotonic()
    try:
        with pytest.raises(DeviceTimeoutError) as caught:
            dut.infer(np.zeros(INPUT_BYTES, np.int8))
    finally:
        dut.close()
    message = str(caught.value)
    assert (f"qemu-m7: the emulator exited with status {EXIT_STATUS} during the inference and exited again with "
            f"status {EXIT_STATUS} after a restart") in message
    assert f"runner log: {runner.log_path}" in message and runner.log_path.exists()
    assert caught.value.exit_code == 2 and time.monotonic() - started < 20.0  # not the 30 s reply timeout
