"""The Dut against a simulated device on a socket pair: hello, inference, resync, retry, timeout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.hil.dut import Dut
from tinyhil.errors import DeviceTimeoutError, ProtocolError
from tinyhil.hil.protocol import encode_frame
from tinyhil.hil.runners.fake import FakeDevice, FakeRunner


def doubled(x: np.ndarray) -> np.ndarray:
    return np.clip(x.astype(np.int16) * 2, -128, 127)[:4]


@pytest.fixture
def runner(tmp_path: Path) -> FakeRunner:
    profile = dataclasses.replace(load_profile("qemu-m7"), runner={"type": "fake", "timeout_s": 0.5})
    fake = FakeRunner(profile, tmp_path)
    fake.device = FakeDevice(model=doubled, input_bytes=8, output_bytes=4, latency=12345)
    return fake


def make_dut(runner: FakeRunner) -> Dut:
    return Dut(runner, Path("fake.elf"), timeout_s=0.3, hello_timeout_s=0.5, retries=2)


def test_launch_reads_the_hello_and_infer_returns_output_and_measurements(runner: FakeRunner) -> None:
    with make_dut(runner) as dut:
        assert dut.hello_frame.input_bytes == 8 and dut.hello_frame.latency_unit == "instructions"
        result = dut.infer(np.arange(8, dtype=np.int8))
    assert result.output.tolist() == [0, 2, 4, 6]
    assert (result.latency, result.stack_high_water_bytes, result.arena_high_water_bytes) == (12345, 512, 256)


def test_noise_before_every_frame_is_resynchronised(runner: FakeRunner) -> None:
    runner.device.noise_before_frames = bytes([0xA5, 0x5A, 0x03, 0x01, 0xFF, 0x00]) + bytes(range(200, 256))
    with make_dut(runner) as dut:
        outputs = [dut.infer(np.full(8, i, np.int8)).output.tolist() for i in range(3)]
        assert dut.link.reader.skipped_bytes > 0
    assert outputs == [[0] * 4, [2] * 4, [4] * 4]


def test_a_lost_reply_is_retried_without_a_reset(runner: FakeRunner) -> None:
    runner.device.drop_replies = 1
    with make_dut(runner) as dut:
        assert dut.infer(np.ones(8, np.int8)).output.tolist() == [2] * 4
    assert runner.starts == 1


def test_a_hanging_device_is_reset_once_then_a_timeout_error_carries_bytes_and_log(runner: FakeRunner) -> None:
    runner.device.hang_after_infers = 0
    dut = make_dut(runner)
    dut.launch()
    try:
        with pytest.raises(DeviceTimeoutError) as caught:
            dut.infer(np.ones(8, np.int8))
    finally:
        dut.close()
    assert runner.starts == 2  # start + one reset through the runner
    assert "even after a reset" in str(caught.value) and caught.value.log_path.endswith("serial.log")
    assert caught.value.last_bytes  # the hello bytes were seen


def test_a_wrong_input_size_is_refused_before_sending(runner: FakeRunner) -> None:
    with make_dut(runner) as dut, pytest.raises(ProtocolError, match="input has 3 bytes"):
        dut.infer(np.ones(3, np.int8))


def test_a_device_error_frame_becomes_a_clear_error(runner: FakeRunner) -> None:
    with make_dut(runner) as dut:
        dut.hello_frame = dataclasses.replace(dut.hello_frame, input_bytes=5)  # host and firmware disagree
        with pytest.raises(ProtocolError, match="BAD_LENGTH.*input size differs"):
            dut.infer(np.ones(5, np.int8))


def test_a_corrupted_request_is_reported_by_the_device_and_resent(runner: FakeRunner) -> None:
    with make_dut(runner) as dut:
        bad = bytearray(encode_frame(0x02, 9, bytes(8)))
        bad[-1] ^= 0xFF
        dut.link.stream.write(bytes(bad))
        assert dut.infer(np.ones(8, np.int8)).output.tolist() == [2] * 4


def test_calling_infer_before_launch_names_the_method(runner: FakeRunner) -> None:
    with pytest.raises(ProtocolError, match=r"Dut.infer\(\) called before launch"):
        make_dut(runner).infer(np.ones(8, np.int8))


def test_a_device_with_per_layer_timing_reports_each_layers_latency(runner: FakeRunner) -> None:
    runner.device.layer_latencies = (4000, 300, 8000)
    with make_dut(runner) as dut:
        assert dut.hello_frame.layer_count == 3
        result = dut.infer(np.ones(8, np.int8))
    assert result.layer_latency == (4000, 300, 8000) and result.latency == 12345
