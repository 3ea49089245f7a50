"""The harness on the target: boot + hello, bit-exact outputs, deterministic counts, hang and noise."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.bench import run_image
from tinyhil.hil.dut import Dut
from tinyhil.errors import DeviceTimeoutError
from tinyhil.hil.protocol import seeded_input
from tinyhil.hil.runners import runner_for

from tinyhil.hil.example_model import INPUT_BYTES, MODEL_HASH, OUTPUT_BYTES, expected_output


def test_boot_sends_a_hello_with_the_model_identity(dut: Dut, build_image, profile) -> None:  # type: ignore[no-untyped-def]
    hello = dut.hello_frame
    image = build_image()
    assert (hello.model_hash, hello.runtime) == (MODEL_HASH, "native")
    assert (hello.input_bytes, hello.output_bytes) == (INPUT_BYTES, OUTPUT_BYTES)
    assert hello.latency_unit == profile.latency_unit
    assert hello.flash_bytes == image.flash_bytes and hello.static_ram_bytes == image.static_ram_bytes
    assert hello.stack_bytes == profile.stack_bytes
    assert hello.cpu_hz == profile.clock_hz  # the clock the BSP set (mps2-an500: its nominal 25 MHz)


def test_outputs_are_bit_exact_with_the_host_twin(dut: Dut) -> None:
    inputs = np.random.default_rng(1).integers(-128, 128, size=(6, INPUT_BYTES), dtype=np.int8)
    for x in inputs:
        result = dut.infer(x)
        assert np.array_equal(result.output, expected_output(x))
        assert result.latency > 0 and 0 < result.stack_high_water_bytes < 4096


def test_the_latency_count_is_identical_across_two_parallel_runs(profile, build_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if profile.kind == "board":
        pytest.skip("silicon cycle counts vary with cache and bus state; determinism holds on emulators only")
    inputs = np.random.default_rng(2).integers(-128, 128, size=(3, INPUT_BYTES), dtype=np.int8)
    image = build_image()
    with ThreadPoolExecutor(2) as pool:  # two emulators side by side, each on its own port
        first, second = pool.map(lambda name: run_image(image, profile, inputs, tmp_path / name), ["a", "b"])
    assert first.latencies == second.latencies and first.latencies[0] > 0


def test_a_hanging_firmware_ends_in_a_timeout_error_with_the_bytes_seen(profile, build_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dut = Dut(runner_for(profile, tmp_path), build_image("hang").elf, timeout_s=0.5, retries=0)
    dut.launch()
    try:
        with pytest.raises(DeviceTimeoutError, match="even after a reset") as caught:
            dut.infer(np.zeros(INPUT_BYTES, np.int8))
    finally:
        dut.close()
    assert MODEL_HASH[-8:].encode() in caught.value.last_bytes  # the hello was the last thing the device said
    assert Path(caught.value.log_path).exists()


def test_a_firmware_that_prints_noise_is_resynchronised(profile, build_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dut = Dut(runner_for(profile, tmp_path), build_image("noise").elf)
    dut.launch()
    try:
        x = np.arange(INPUT_BYTES, dtype=np.int8)
        outputs = [dut.infer(x).output for _ in range(3)]
        skipped = dut.link.reader.skipped_bytes
    finally:
        dut.close()
    assert all(np.array_equal(o, expected_output(x)) for o in outputs)
    assert skipped >= 4 * 24  # noise before the hello and each of the three results was skipped


def test_a_seeded_inference_returns_the_crc_of_the_output_of_the_input_the_host_computes(dut: Dut, profile) -> None:  # type: ignore[no-untyped-def]
    for seed in (0, 1, 0xFFFFFFFF):
        x = seeded_input(seed, INPUT_BYTES)
        seeded, streamed = dut.infer_seeded(seed), dut.infer(x)
        assert seeded.output is None and seeded.output_crc == zlib.crc32(expected_output(x).tobytes())
        assert streamed.output_crc == seeded.output_crc
        if profile.kind == "emulator":  # silicon cycle counts vary with cache state; instruction counts do not
            assert seeded.latency == streamed.latency
