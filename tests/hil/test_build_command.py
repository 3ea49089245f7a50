"""`tinyhil build MODEL --board B -o DIR` writes ELF, .bin, .hex, map and a per-region memory report for
every board profile, without a probe or emulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinyhil.hil.boards import list_profiles
from tinyhil.cli import cli

from ..codegen.tflite_builder import TensorSpec, build_model, conv_options

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    tensors = [TensorSpec((1, 8, 8, 3), scale=(0.05,), zero_point=(-3,)),
               TensorSpec((4, 3, 3, 3), scale=(0.01,) * 4, zero_point=(0,) * 4,
                          data=rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)),
               TensorSpec((1, 4, 4, 4), scale=(0.1,), zero_point=(5,))]
    path = tmp_path_factory.mktemp("model") / "conv.tflite"
    path.write_bytes(build_model("CONV_2D", tensors, [0, 1], [2], conv_options((2, 2), (1, 1), "SAME", "RELU")))
    return path


def first_hex_record(lines: list[str]) -> tuple[int, bytes]:
    """(absolute address, bytes) of the first data record of an Intel HEX file; checks the end record."""
    assert lines[-1] == ":00000001FF"
    upper = 0
    for line in lines:
        count, offset, kind = int(line[1:3], 16), int(line[3:7], 16), int(line[7:9], 16)
        data = bytes.fromhex(line[9:9 + 2 * count])
        if kind == 4:  # extended linear address: the upper 16 bits
            upper = int.from_bytes(data, "big")
        elif kind == 0:
            return (upper << 16) | offset, data
    raise AssertionError("no data record")


@pytest.mark.parametrize("board", [profile.name for profile in list_profiles()])
def test_build_writes_the_flashable_files_and_the_memory_use_of_each_region(board: str, model: Path,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(model), "--board", board, "-o", str(out)])
    assert result.exit_code == 0, result.output
    profile = next(p for p in list_profiles() if p.name == board)
    elf, binary, intel_hex = (out / f"firmware.{ext}" for ext in ("elf", "bin", "hex"))
    assert elf.read_bytes()[:4] == b"\x7fELF"
    text_origin = profile.region_for("text").origin
    # the .bin is the flash image from the vector table on: word 0 the initial stack pointer, word 1 the
    # reset handler (a Thumb address, odd) inside the text region
    stack_top, reset = np.frombuffer(binary.read_bytes()[:8], "<u4")
    assert profile.region_for("stack").origin < stack_top <= profile.region_for("stack").origin + profile.region_for("stack").length
    assert reset & 1 and text_origin <= reset - 1 < text_origin + profile.region_for("text").length
    address, data = first_hex_record(intel_hex.read_text().splitlines())
    assert address == text_origin and data == binary.read_bytes()[:len(data)]  # the same bytes, at the flash address
    assert "Memory map" in (out / "firmware.map").read_text() or "Linker script" in (out / "firmware.map").read_text()
    report = json.loads((out / "memory.json").read_text())
    regions = {r["name"]: r for r in report["regions"]}
    assert set(regions) == {r.name for r in profile.memory}
    text = regions[profile.region_for("text").name]
    assert ".text" in text["sections"] and ".isr_vector" in text["sections"]
    assert text["used"] >= binary.stat().st_size - 8  # the stored image, give or take alignment
    assert ".stack" in regions[profile.region_for("stack").name]["sections"]
    assert regions[profile.region_for("stack").name]["used"] >= profile.stack_bytes
    assert f"memory use of firmware.elf on {board}" in result.output and "used %" in result.output


def test_the_nucleo_bin_starts_at_flash_bank_1_and_says_so(model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", str(model), "--board", "stm32h7", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "firmware.bin starts at 0x08000000" in result.output
    regions = {r["name"]: r for r in json.loads((tmp_path / "out" / "memory.json").read_text())["regions"]}
    assert regions["AXI_SRAM"]["used"] > 0 and regions["DTCM"]["used"] == 32 * 1024  # arena in AXI, stack in DTCM
    assert regions["SRAM1"]["used"] == 0 and regions["ITCM"]["sections"] == []


def test_build_with_fusion_fit_plans_within_the_boards_budget_less_the_first_guess_of_other_ram(tmp_path: Path) -> None:
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.hil.bench import FIT_FIRST_HEADROOM_BYTES
    from tinyhil.hil.boards import load_profile

    from ..codegen.depthwise_chains import Depthwise, depthwise_chain

    model = tmp_path / "chain.tflite"
    model.write_bytes(depthwise_chain((Depthwise(3, 3, 2), Depthwise(3, 3)), 24, 24, 8, seed=0))
    budget = load_profile("stm32h7").sram_budget_bytes
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(model), "--board", "stm32h7", "-o", str(out), "--fusion", "fit"])
    assert result.exit_code == 0, result.output
    fit = plan_memory(read_tflite(model.read_bytes()), fusion="fit",
                      arena_limit_bytes=budget - FIT_FIRST_HEADROOM_BYTES)
    assert f"#define TINYHIL_MODEL_ARENA_BYTES {fit.arena_bytes}\n" in (out / "model" / "model.h").read_text()
    assert fit.arena_bytes > plan_memory(read_tflite(model.read_bytes())).arena_bytes  # the first layer's pair ring
