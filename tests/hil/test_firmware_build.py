"""The firmware builds for every BSP from the profile's regions; a model that does not fit fails clearly."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tinyhil.boards import load_profile
from tinyhil.errors import BuildError
from tinyhil.firmware import EXAMPLE_MODEL_DIR, build_firmware

pytestmark = pytest.mark.toolchain


@pytest.mark.parametrize("board", ["nucleo-h743zi", "qemu-m7"])
def test_the_harness_builds_for_each_bsp_and_sizes_come_from_the_elf(board: str, tmp_path: Path) -> None:
    image = build_firmware(EXAMPLE_MODEL_DIR, load_profile(board), tmp_path)
    assert image.elf.exists() and len(image.sha256) == 64
    sections = image.section_bytes
    assert image.flash_bytes >= sections[".text"] + sections[".rodata"] + sections[".isr_vector"]
    assert image.static_ram_bytes == sections.get(".data", 0) + sections[".bss"]  # the stack is counted when measured
    assert 1000 < image.flash_bytes < 16_000 and image.static_ram_bytes >= 40  # 10 int32 accumulators
    assert image.toolchain.startswith("arm-none-eabi-gcc")
    cache = (image.elf.parent / "CMakeCache.txt").read_text()  # the UART is built for the profile's baud rate
    assert f"TINYHIL_BAUD_RATE:STRING={load_profile(board).baud_rate}" in cache


def test_nucleo_build_puts_the_stack_in_dtcm_and_data_in_axi_sram(tmp_path: Path) -> None:
    image = build_firmware(EXAMPLE_MODEL_DIR, load_profile("nucleo-h743zi"), tmp_path)
    symbols = (image.elf.parent / "firmware.map").read_text()
    assert re.search(r"0x20008000\s+__stack_top__ = \.", symbols)  # DTCM base + 32 KiB stack
    assert re.search(r"0x24000000\s+__data_start__ = \.", symbols)


def test_a_second_build_of_the_same_pair_is_taken_from_the_cache(tmp_path: Path) -> None:
    profile = load_profile("qemu-m7")
    first = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path)
    second = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path)
    assert (first.cached, second.cached, first.sha256) == (False, True, second.sha256)


def test_a_firmware_that_does_not_fit_names_the_region_and_the_overflow(tmp_path: Path) -> None:
    profile = load_profile("nucleo-h743zi")
    tiny_dtcm = tuple(dataclasses.replace(r, length=4096) if r.name == "DTCM" else r for r in profile.memory)
    with pytest.raises(BuildError, match=r"region DTCM \(4.0 KiB at 0x20000000\) overflowed by 28672 bytes"):
        build_firmware(EXAMPLE_MODEL_DIR, dataclasses.replace(profile, memory=tiny_dtcm), tmp_path)


def test_ccache_compiles_the_firmware_when_installed_and_the_elf_is_the_same_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from tinyhil.firmware import compiler_launcher

    if shutil.which("ccache") is None:
        pytest.skip("ccache not installed (scripts/install.sh installs it)")
    assert compiler_launcher() == ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    profile = load_profile("qemu-m7")
    with_cache = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path / "a")
    assert re.search(r"CMAKE_C_COMPILER_LAUNCHER:\w+=ccache", (with_cache.elf.parent / "CMakeCache.txt").read_text())
    monkeypatch.setenv("TINYHIL_CCACHE", "0")
    assert compiler_launcher() == []
    without = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path / "b")
    assert "COMPILER_LAUNCHER" not in (without.elf.parent / "CMakeCache.txt").read_text()
    assert without.sha256 == with_cache.sha256
