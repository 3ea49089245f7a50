"""The firmware builds for every BSP from the profile's regions; a model that does not fit fails clearly."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.errors import BuildError
from tinyhil.hil.firmware import EXAMPLE_MODEL_DIR, build_firmware
from tinyhil.hil.firmware_trees import shared_tree_root

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
    cache = (image.build_tree / "CMakeCache.txt").read_text()  # the UART is built for the profile's baud rate
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
    from tinyhil.hil.firmware import compiler_launcher

    if shutil.which("ccache") is None:
        pytest.skip("ccache not installed (scripts/install.sh installs it)")
    assert compiler_launcher() == ["-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    profile = load_profile("qemu-m7")
    with_cache = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path / "a")
    assert re.search(r"CMAKE_C_COMPILER_LAUNCHER:\w+=ccache", (with_cache.build_tree / "CMakeCache.txt").read_text())
    monkeypatch.setenv("TINYHIL_CCACHE", "0")
    assert compiler_launcher() == []
    without = build_firmware(EXAMPLE_MODEL_DIR, profile, tmp_path / "b")
    assert "COMPILER_LAUNCHER" not in (without.build_tree / "CMakeCache.txt").read_text()
    assert without.sha256 == with_cache.sha256


def _variant(tmp_path: Path, name: str, shift: int) -> Path:
    """The example model with another output shift: a different model, a different ELF."""
    model = tmp_path / name
    shutil.copytree(EXAMPLE_MODEL_DIR, model)
    source = model / "model.c"
    source.write_text(source.read_text().replace("acc >> 8;", f"acc >> {shift};"))
    return model


def test_models_are_built_in_one_shared_configured_tree_with_the_elf_a_tree_of_their_own_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYHIL_CACHE", str(tmp_path / "cache"))
    profile = load_profile("qemu-m7")
    first, second = _variant(tmp_path, "a", 8), _variant(tmp_path, "b", 7)
    images = [build_firmware(model, profile, tmp_path / "out") for model in (first, second, first)]
    assert images[0].build_tree == images[1].build_tree == shared_tree_root() / images[0].build_tree.name
    assert images[2].cached and images[2].build_tree is None and images[2].sha256 == images[0].sha256
    assert images[0].sha256 != images[1].sha256 and images[0].elf.parent != images[1].elf.parent
    assert (images[1].elf.parent / "firmware.map").exists()
    # the tree holds the last model's sources, its stamp comment aside; CMake was configured once
    assert (images[1].build_tree / "model" / "model.c").read_bytes() == (second / "model.c").read_bytes()
    assert len(list(shared_tree_root().iterdir())) == 1
    monkeypatch.setenv("TINYHIL_SHARED_TREES", "0")
    alone = [build_firmware(model, profile, tmp_path / "alone") for model in (first, second)]
    assert [image.sha256 for image in alone] == [image.sha256 for image in images[:2]]
    assert alone[0].build_tree == alone[0].elf.parent


def test_a_failed_build_in_the_shared_tree_leaves_it_usable_for_the_next_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYHIL_CACHE", str(tmp_path / "cache"))
    profile = load_profile("qemu-m7")
    broken = _variant(tmp_path, "broken", 8)
    (broken / "model.c").write_text((broken / "model.c").read_text() + "\nthis is not C;\n")
    with pytest.raises(BuildError, match="firmware build failed"):
        build_firmware(broken, profile, tmp_path / "out")
    image = build_firmware(_variant(tmp_path, "fine", 6), profile, tmp_path / "out")
    assert image.elf.exists() and not image.cached


def test_a_busy_shared_tree_sends_the_next_build_to_another_slot(tmp_path: Path) -> None:
    from tinyhil.hil.firmware_trees import free_tree

    with free_tree(tmp_path, "key") as first:
        with free_tree(tmp_path, "key") as second:
            assert (first.name, second.name) == ("key-0", "key-1")
    with free_tree(tmp_path, "key") as again:
        assert again.name == "key-0"


def test_staging_rewrites_only_what_changed_and_ignores_the_generator_stamp(tmp_path: Path) -> None:
    from tinyhil.hil.firmware_trees import stage

    source, staged = tmp_path / "model", tmp_path / "staged"
    source.mkdir()
    (source / "CMakeLists.txt").write_text("# Generated from model sha256 aaaa\nadd_library(m model.c)\n")
    (source / "model.c").write_text("int a;\n")
    (source / "old.h").write_text("\n")
    stage(source, staged)
    (source / "old.h").unlink()
    (source / "CMakeLists.txt").write_text("# Generated from model sha256 bbbb\nadd_library(m model.c)\n")
    (source / "model.c").write_text("int b;\n")
    stage(source, staged)
    assert sorted(p.name for p in staged.iterdir()) == ["CMakeLists.txt", "model.c"]
    assert (staged / "CMakeLists.txt").read_text().startswith("# Generated from model sha256 aaaa")  # not rewritten
    assert (staged / "model.c").read_text() == "int b;\n"
    (source / "CMakeLists.txt").write_text("# Generated from model sha256 cccc\nadd_library(m model.c other.c)\n")
    stage(source, staged)
    assert "other.c" in (staged / "CMakeLists.txt").read_text()


def test_trees_idle_for_days_are_removed_and_busy_or_recent_ones_kept(tmp_path: Path) -> None:
    import fcntl
    import os
    import time

    from tinyhil.hil.firmware_trees import SHARED_TREE_IDLE_DAYS, prune_idle_trees

    now = time.time()
    for name, age_days in (("idle", SHARED_TREE_IDLE_DAYS + 1), ("recent", 0), ("busy", SHARED_TREE_IDLE_DAYS + 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".lock").touch()
        os.utime(tmp_path / name / ".lock", (now - age_days * 86400,) * 2)
    fd = os.open(tmp_path / "busy" / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        prune_idle_trees(tmp_path, now)
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "recent"]
