"""`tinyhil bench` against a simulated board (a profile whose runner is the fake device): a firmware that is not
the one built (another model hash, another runtime, other memory figures than the ELF's), an output of the wrong
length, a board that reboots on every attempt and outputs that are not bit-exact each end in one clear line and
a non-zero exit status; a faithful device passes in both input modes. The firmware build is replaced by an image
whose section sizes the fake's hello reports: what is under test is what the host does with the device's answers."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil import bench
from tinyhil.hil.boards import PROFILE_DIR
from tinyhil.hil.firmware import FirmwareImage
from tinyhil.codegen.reference import ReferenceInterpreter
from tinyhil.hil.runners.fake import FakeDevice, FakeRunner

from ..codegen.tflite_builder import TensorSpec, build_model, pool_options
from ..reliability.cli_run import one_error_line, tinyhil

FLASH_BYTES, STATIC_RAM_BYTES = 8192, 4096  # what the fake's hello reports by default


@pytest.fixture(scope="module")
def model_blob() -> bytes:
    quant = dict(scale=(0.05,), zero_point=(-3,))
    tensors = [TensorSpec((1, 16, 16, 3), **quant), TensorSpec((1, 2, 2, 3), **quant)]
    return build_model("AVERAGE_POOL_2D", tensors, [0], [1], pool_options((8, 8), (8, 8), "VALID", "NONE"))


@pytest.fixture
def board(tmp_path: Path, model_blob: bytes, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """(model path, profile path, the fake device the profile's runner serves): a faithful device to start with."""
    model = tmp_path / "pool.tflite"
    model.write_bytes(model_blob)
    profile = tmp_path / "fake-m7.toml"
    text = (PROFILE_DIR / "qemu-m7.toml").read_text().replace('name = "qemu-m7"', 'name = "fake-m7"')
    profile.write_text(re.sub(r'type = "qemu"', 'type = "fake"', text).replace("timeout_s = 60.0", "timeout_s = 1.0"))
    reference = ReferenceInterpreter(model_blob)
    device = FakeDevice(model=lambda x: np.asarray(reference.invoke(x.reshape(1, 16, 16, 3)), np.int8).ravel(),
                        input_bytes=768, output_bytes=12, model_hash=hashlib.sha256(model_blob).hexdigest(),
                        static_ram_bytes=STATIC_RAM_BYTES, flash_bytes=FLASH_BYTES)
    monkeypatch.setattr(FakeRunner, "device", device)
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    image = FirmwareImage(elf=elf, sha256="f" * 64, section_bytes={".text": FLASH_BYTES, ".bss": STATIC_RAM_BYTES},
                          toolchain="none (the device is simulated)", cached=True)
    monkeypatch.setattr(bench, "build_firmware", lambda *args, **kwargs: image)
    return model, profile, device


def run_bench(board, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str):  # type: ignore[no-untyped-def]
    model, profile, _ = board
    return tinyhil(["bench", str(model), "--board", str(profile), "--inputs", "2", "--workdir", str(tmp_path / "w"),
                    *extra], capsys)


@pytest.mark.parametrize("mode", ["stream", "seeded"])
def test_a_faithful_device_is_bit_exact_and_exits_0_in_both_input_modes(board, tmp_path: Path, mode: str,  # type: ignore[no-untyped-def]
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    ran = run_bench(board, tmp_path, capsys, "--input-mode", mode, "--json", str(tmp_path / "m.json"))
    assert ran.status == 0, ran.err
    measured = json.loads((tmp_path / "m.json").read_text())
    assert measured["bit_exact"] is True and measured["provenance"]["input_mode"] == mode
    assert measured["cpu_hz"] == 25_000_000 and len(measured["output_crcs"]) == 2
    assert board[2].seqs_seen and all(seq != 0 for seq in board[2].seqs_seen)


def test_a_firmware_built_for_another_model_is_a_stale_build(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    model, _, device = board
    device.model_hash = "0" * 64
    ran = run_bench(board, tmp_path, capsys)
    line = one_error_line(ran)
    wanted = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    assert ran.status == 2
    assert f"the firmware reports model hash 0000000000000000..., the model is {wanted}...: a stale build" in line
    assert "delete " in line and "and retry, or flash the board again" in line


def test_a_firmware_running_another_runtime_than_requested_is_refused(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    board[2].runtime = "tflm"
    ran = run_bench(board, tmp_path, capsys)
    assert ran.status == 2
    assert "the firmware runs the 'tflm' runtime, 'native' was asked for: a stale or foreign build" in one_error_line(ran)


@pytest.mark.parametrize("field, name, reported, built", [("static_ram_bytes", "static RAM", 5000, STATIC_RAM_BYTES),
                                                          ("flash_bytes", "flash", 9000, FLASH_BYTES)])
def test_hello_memory_figures_that_differ_from_the_elf_are_another_build(board, tmp_path: Path, field: str,  # type: ignore[no-untyped-def]
                                                                        name: str, reported: int, built: int,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    setattr(board[2], field, reported)
    ran = run_bench(board, tmp_path, capsys)
    assert ran.status == 2
    assert (f"the firmware reports {reported:,} B of {name}, the ELF built has {built:,} B" in one_error_line(ran))
    assert "the device runs another build" in one_error_line(ran)


def test_an_output_of_the_wrong_length_ends_the_bench_with_both_lengths(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    board[2].output_bytes_sent = 10
    ran = run_bench(board, tmp_path, capsys)
    assert ran.status == 2
    assert "result frame of 30 bytes, expected 32" in one_error_line(ran) and "rebuild it" in one_error_line(ran)


def test_a_board_rebooting_on_every_attempt_ends_the_bench_at_once(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    board[2].reset_on_infers = tuple(range(1, 20))
    ran = run_bench(board, tmp_path, capsys)
    assert ran.status == 2
    assert "the device rebooted 4 times, once per attempt, while running INFER" in one_error_line(ran)


def test_outputs_that_are_not_bit_exact_fail_the_bench(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    board[2].model = lambda x: np.zeros(12, np.int8) + 99
    ran = run_bench(board, tmp_path, capsys, "--json", str(tmp_path / "m.json"))
    assert ran.status == 1
    assert "outputs differ from the tflite-micro reference (see --json for the runs)" in one_error_line(ran)
    assert '"bit_exact": false' in (tmp_path / "m.json").read_text()


def test_a_firmware_of_an_older_protocol_asks_for_a_rebuild(board, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    board[2].version = 2
    ran = run_bench(board, tmp_path, capsys)
    assert ran.status == 2
    assert "firmware speaks protocol version 2, host 3: rebuild the firmware with this tinyhil" in one_error_line(ran)
