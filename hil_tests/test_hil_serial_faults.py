"""Serial faults injected on the target (QEMU in CI, the Nucleo with --board-hil), with the harness's test-only
modes (firmware/harness/main.c): a board that resets itself mid-inference is seen by its boot hello and the
input resent at once; MODEL_FAILED, TOO_LONG and UNKNOWN_TYPE come back as error frames whose detail the host
turns into one clear message; a frame past 64 KiB to a small model is refused by length, not buffered."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.dut import Dut
from tinyhil.hil.example_model import INPUT_BYTES, expected_output
from tinyhil.errors import DeviceTimeoutError
from tinyhil.hil.protocol import DeviceReportedError, FrameType, encode_frame
from tinyhil.hil.runners import runner_for


def test_a_reset_mid_inference_is_seen_by_the_boot_hello_and_the_input_resent(profile, build_image,  # type: ignore[no-untyped-def]
                                                                               tmp_path: Path) -> None:
    dut = Dut(runner_for(profile, tmp_path), build_image("reset").elf, timeout_s=20.0)
    dut.launch()
    try:
        inputs = [np.full(INPUT_BYTES, i, np.int8) for i in range(3)]
        first = dut.infer(inputs[0])  # seq 1
        started = time.monotonic()
        second = dut.infer(inputs[1])  # seq 2: the firmware resets itself after starting the timer
        seconds = time.monotonic() - started
        third = dut.infer(inputs[2])
        resets = dut.total_device_resets
    finally:
        dut.close()
    for result, x in zip((first, second, third), inputs):
        assert np.array_equal(result.output, expected_output(x))
    assert resets == 1 and seconds < 10.0  # resent at the boot hello, not after the 20 s reply timeout


def test_model_failed_comes_back_with_the_models_status(profile, build_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dut = Dut(runner_for(profile, tmp_path), build_image("fail").elf, timeout_s=20.0)
    dut.launch()
    try:
        with pytest.raises(DeviceReportedError) as caught:
            dut.infer(np.zeros(INPUT_BYTES, np.int8))
        with pytest.raises(DeviceReportedError, match="MODEL_FAILED for INFER_SEEDED"):  # the link is in step
            dut.infer_seeded(7)
    finally:
        dut.close()
    assert str(caught.value).startswith("device reported MODEL_FAILED for INFER: the model's invoke returned "
                                        "status -3")
    assert caught.value.status == -3 and caught.value.exit_code == 2


def test_too_long_and_unknown_type_name_the_frame_and_the_lengths(dut: Dut) -> None:
    link = dut.link
    with pytest.raises(DeviceReportedError) as too_long:
        link.request(FrameType.HELLO_REQ, bytes(100), FrameType.HELLO, 5.0)
    with pytest.raises(DeviceReportedError) as unknown:
        link.request(0x33, b"", FrameType.RESULT, 5.0)
    with pytest.raises(DeviceReportedError) as bad_length:  # a 70,000-byte frame (u32 length) to a 64-byte model
        link.request(FrameType.INFER, bytes(70_000), FrameType.RESULT, 5.0)
    assert str(too_long.value) == ("device reported TOO_LONG for HELLO_REQ: 100 payload bytes, the firmware "
                                   "accepts at most 16 for this frame type: host and firmware protocol versions "
                                   "differ; rebuild the firmware")
    assert str(unknown.value) == ("device reported UNKNOWN_TYPE for type 0x33: the firmware does not know this "
                                  "request: host and firmware protocol versions differ; rebuild the firmware")
    assert (bad_length.value.announced, bad_length.value.allowed) == (70_000, INPUT_BYTES)
    x = np.arange(INPUT_BYTES, dtype=np.int8)
    assert np.array_equal(dut.infer(x).output, expected_output(x))  # the firmware resynchronised after each


def test_a_frame_with_the_devices_seq_0_is_noise_and_gets_no_answer(dut: Dut) -> None:
    # a magic inside a payload being skipped can look like a frame; were it answered with seq 0, its hello or
    # error would pass for the device's own (a reboot, a fault report)
    dut.link.stream.write(encode_frame(FrameType.HELLO_REQ, 0) + encode_frame(0x33, 0))
    with pytest.raises(DeviceTimeoutError):
        dut.link.wait_for(FrameType.HELLO, None, 1.0)
    assert not dut.link.pending and dut.hello().input_bytes == INPUT_BYTES
