"""Tensors of any size on the Cortex-M7 emulator: a 160x160x3 input (76,800 B, past the old 64 KiB frame)
runs bit-exact, received straight into the model's arena; the firmware's static RAM does not grow with the
input; inputs the firmware generates from a seed give the same verdict and latency as streamed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.codegen.tflite_builder import TensorSpec, build_model, pool_options

pytestmark = pytest.mark.qemu

QUANT = dict(scale=(0.05,), zero_point=(-3,))


def pooled_model(side: int) -> bytes:
    """AVERAGE_POOL_2D 8x8 / 8 of a side x side x 3 image: cheap to run, every input byte matters."""
    tensors = [TensorSpec((1, side, side, 3), **QUANT), TensorSpec((1, side // 8, side // 8, 3), **QUANT)]
    return build_model("AVERAGE_POOL_2D", tensors, [0], [1], pool_options((8, 8), (8, 8), "VALID", "NONE"))


def _reference(blob: bytes, inputs: np.ndarray) -> np.ndarray:
    from tinyhil.codegen.reference import ReferenceInterpreter

    reference = ReferenceInterpreter(blob)
    return np.stack([np.asarray(reference.invoke(x), np.int8) for x in inputs])


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The 160x160x3 model: its blob, generated C and firmware for qemu-m7 (built once for the module)."""
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware
    from tinyhil.hil.boards import load_profile

    root = tmp_path_factory.mktemp("big")
    blob = pooled_model(160)
    generated = generate(blob, root / "c")
    return blob, generated, build_firmware(generated.out_dir, load_profile("qemu-m7"), root / "build")


def test_a_160px_input_runs_bit_exact_and_seeded_inputs_give_the_same_verdict_and_latency(big, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tinyhil.hil.bench import SeededInputs, run_image, summarise
    from tinyhil.hil.boards import load_profile

    (blob, _, image), profile = big, load_profile("qemu-m7")
    # one input: QEMU's UART model takes one byte per turn of its I/O loop: ~7 s for 76,800 B on a loaded 2-core host
    seeded = SeededInputs(seed=11, count=1)
    streamed = seeded.arrays((1, 160, 160, 3))
    assert streamed[0].nbytes == 76_800
    expected = _reference(blob, streamed)
    stream_run = run_image(image, profile, streamed, tmp_path / "stream", warmup=0)
    seeded_run = run_image(image, profile, seeded, tmp_path / "seeded", warmup=0)

    assert seeded_run.outputs is None and stream_run.output_crcs == seeded_run.output_crcs
    assert stream_run.latencies == seeded_run.latencies and stream_run.latencies[0] > 0  # -icount: deterministic
    wrong = expected.copy()
    wrong[0, 0, 0, 0, 0] ^= 1
    for reference, verdict in ((expected, True), (wrong, False)):
        by_tensor = summarise(image, profile, stream_run, reference, "native")
        by_crc = summarise(image, profile, seeded_run, reference, "native")
        assert by_tensor.bit_exact is by_crc.bit_exact is verdict
        assert by_tensor.latency_runs == by_crc.latency_runs
    assert by_crc.provenance["input_mode"] == "seeded" and by_tensor.provenance["input_mode"] == "stream"
    assert by_tensor.cpu_hz == 25_000_000 and by_tensor.latency_ms is None  # instructions are not a time


def test_the_firmwares_static_ram_is_the_arena_plus_a_fixed_part_whatever_the_input_size(big, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware

    small = generate(pooled_model(16), tmp_path / "c")
    builds = {16: (small, build_firmware(small.out_dir, load_profile("qemu-m7"), tmp_path / "build")),
              160: big[1:]}
    fixed = {}
    for side, (generated, image) in builds.items():
        assert generated.arena_bytes >= side * side * 3  # the input lives in the arena
        fixed[side] = image.static_ram_bytes - generated.arena_bytes
    # no input- (76,800 B) or output-sized buffer: the harness's own static RAM is the same few bytes (32 today)
    assert fixed[16] == fixed[160] and 0 < fixed[160] < 256, fixed
