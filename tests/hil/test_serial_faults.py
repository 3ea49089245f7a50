"""Serial and firmware faults against a simulated device (tinyhil.hil.runners.fake on a socket pair and on a pty):
each fault ends in the right recovery or in one clear error naming the problem and what to do, never a silent wrong
result or a wait for the whole timeout when the device already said what happened."""

from __future__ import annotations

import dataclasses
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.hil.dut import Dut
from tinyhil.errors import DeviceTimeoutError, ProtocolError
from tinyhil.hil.protocol import DeviceReportedError, DeviceResetError, FrameType, Link, seeded_input
from tinyhil.hil.runners.fake import FakeDevice, FakeRunner


def doubled(x: np.ndarray) -> np.ndarray:
    return np.clip(x.astype(np.int16) * 2, -128, 127)[:4]


@pytest.fixture(params=["socket", "pty"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> FakeRunner:
    """The fake device on a socket pair, and on a pseudo-terminal opened with serial.Serial (a board's path)."""
    profile = dataclasses.replace(load_profile("qemu-m7"),
                                  runner={"type": "fake", "timeout_s": 0.5, "transport": request.param})
    fake = FakeRunner(profile, tmp_path)
    fake.device = FakeDevice(model=doubled, input_bytes=8, output_bytes=4, latency=12345)
    return fake


def make_dut(runner: FakeRunner, timeout_s: float = 0.3) -> Dut:
    return Dut(runner, Path("fake.elf"), timeout_s=timeout_s, hello_timeout_s=0.5, retries=2)


def test_a_board_that_reboots_mid_inference_is_seen_by_its_boot_hello_and_the_input_resent_at_once(
        runner: FakeRunner) -> None:
    runner.device.reset_on_infers = (2,)  # the second inference reboots the board instead of answering
    started = time.monotonic()
    with make_dut(runner, timeout_s=5.0) as dut:
        outputs = [dut.infer(np.full(8, i, np.int8)).output.tolist() for i in range(3)]
        resets = dut.total_device_resets
    assert outputs == [[0] * 4, [2] * 4, [4] * 4]
    assert resets == 1 and runner.starts == 1  # resent on the same link, no reset through the runner
    assert time.monotonic() - started < 2.5  # far less than the 5 s reply timeout it would otherwise wait


def test_a_board_that_reboots_on_every_attempt_is_a_clear_error_not_a_timeout(runner: FakeRunner) -> None:
    runner.device.reset_on_infers = (1, 2, 3)  # every attempt (retries=2: three) reboots
    started = time.monotonic()
    with make_dut(runner, timeout_s=5.0) as dut, pytest.raises(DeviceResetError) as caught:
        dut.infer(np.ones(8, np.int8))
    assert "rebooted 3 times, once per attempt, while running INFER" in str(caught.value)
    assert "a brown-out, a watchdog or a fault in the model; see the serial log" in str(caught.value)
    assert caught.value.exit_code == 2 and time.monotonic() - started < 2.5


def test_a_stale_reply_with_a_valid_crc_is_passed_over_for_the_reply_with_the_right_seq(runner: FakeRunner) -> None:
    runner.device.stale_reply_seq = lambda seq: (seq - 2) % 256  # a late answer to an earlier request first
    with make_dut(runner) as dut:
        results = [dut.infer(np.full(8, 3, np.int8)) for _ in range(2)]
    assert [(r.output.tolist(), r.latency) for r in results] == [([6] * 4, 12345)] * 2  # the stale one says 1


def test_replies_that_only_carry_a_wrong_seq_time_out_and_say_so(runner: FakeRunner) -> None:
    runner.device.reply_seq = lambda seq: (seq + 7) % 256
    with make_dut(runner) as dut, pytest.raises(DeviceTimeoutError) as caught:
        dut.infer(np.ones(8, np.int8))
    message = str(caught.value)
    assert "even after a reset" in message and "RESULT frame(s) with another sequence number ignored" in message
    assert "another program writing to this port" in message and caught.value.exit_code == 2


def test_sequence_numbers_wrap_from_255_to_1_and_never_reuse_the_devices_0(runner: FakeRunner) -> None:
    with make_dut(runner) as dut:
        dut.link.seq = 253
        outputs = [dut.infer(np.full(8, i, np.int8)).output.tolist() for i in range(4)]
    assert runner.device.seqs_seen[-4:] == [254, 255, 1, 2]
    assert outputs == [[2 * i] * 4 for i in range(4)]


def test_an_output_of_the_wrong_length_is_a_protocol_error_naming_both_lengths(runner: FakeRunner) -> None:
    runner.device.output_bytes_sent = 3
    with make_dut(runner) as dut, pytest.raises(ProtocolError) as caught:
        dut.infer(np.ones(8, np.int8))
    assert str(caught.value) == (
        "result frame of 23 bytes, expected 24: header 20 + 0 per-layer stamps (0 B) + 4 output bytes as the hello "
        "announced; it carries 3 output bytes: the firmware was built for another model or protocol; rebuild it")


def test_model_failed_names_the_models_status_and_is_not_retried(runner: FakeRunner) -> None:
    runner.device.model_status = -3
    with make_dut(runner) as dut, pytest.raises(DeviceReportedError) as caught:
        dut.infer(np.ones(8, np.int8))
    assert str(caught.value).startswith("device reported MODEL_FAILED for INFER: the model's invoke returned status -3")
    assert caught.value.status == -3 and runner.device.infers == 1 and caught.value.exit_code == 2


def test_too_long_names_both_lengths_and_asks_for_a_rebuild(runner: FakeRunner) -> None:
    with make_dut(runner) as dut, pytest.raises(DeviceReportedError) as caught:
        dut.link.request(FrameType.HELLO_REQ, bytes(100), FrameType.HELLO, 0.5)
    assert str(caught.value) == ("device reported TOO_LONG for HELLO_REQ: 100 payload bytes, the firmware accepts "
                                 "at most 16 for this frame type: host and firmware protocol versions differ; "
                                 "rebuild the firmware")
    assert runner.device.seqs_seen == [1]  # the length the device read is the one sent: not resent


def test_unknown_type_asks_for_a_rebuild(runner: FakeRunner) -> None:
    with make_dut(runner) as dut, pytest.raises(DeviceReportedError) as caught:
        dut.link.request(0x33, b"", FrameType.RESULT, 0.5)
    assert str(caught.value) == ("device reported UNKNOWN_TYPE for type 0x33: the firmware does not know this "
                                 "request: host and firmware protocol versions differ; rebuild the firmware")


def test_a_length_misread_on_the_line_is_resent_and_a_real_mismatch_is_not(runner: FakeRunner) -> None:
    runner.device.misread_lengths = 1  # the device read 9 bytes' length where 8 were sent: line corruption
    with make_dut(runner) as dut:
        assert dut.infer(np.ones(8, np.int8)).output.tolist() == [2] * 4
        dut.hello_frame = dataclasses.replace(dut.hello_frame, input_bytes=5)  # host and firmware disagree
        with pytest.raises(DeviceReportedError, match="5 payload bytes, the firmware takes 8: the input size differs"):
            dut.infer(np.ones(5, np.int8))


def test_the_link_skips_seq_0_which_only_the_device_uses() -> None:
    link = Link(stream=None)  # type: ignore[arg-type]
    link.seq = 254
    assert [link.next_seq() for _ in range(4)] == [255, 1, 2, 3]


def test_a_160px_input_crosses_a_serial_port_in_one_frame_and_comes_back_intact(runner: FakeRunner) -> None:
    runner.device = FakeDevice(model=lambda x: x[::-1][:300], input_bytes=160 * 160 * 3, output_bytes=300)
    x = np.random.default_rng(4).integers(-128, 128, 160 * 160 * 3, dtype=np.int8)
    with make_dut(runner, timeout_s=5.0) as dut:
        streamed = dut.infer(x)
        seeded = dut.infer_seeded(9)
    assert np.array_equal(streamed.output, x[::-1][:300])
    assert seeded.output is None and seeded.output_crc == zlib.crc32(seeded_input(9, 76_800)[::-1][:300].tobytes())
