"""A board profile value of the wrong type or unit is a ConfigError naming the file, the key and what it must
be, from the typed loader; never a ValueError, never a silent truncation (`sram_budget = 42.5` was 42 B)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyhil.hil.boards import PROFILE_DIR, load_profile_file
from tinyhil.errors import ConfigError

from .cli_run import one_error_line, tinyhil

QEMU = (PROFILE_DIR / "qemu-m7.toml").read_text()


def profile_with(tmp_path: Path, pattern: str, replacement: str) -> Path:
    text, count = re.subn(pattern, replacement, QEMU, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("pattern, replacement, words", [
    (r"^clock_hz = .*$", 'clock_hz = "fast"', "key 'clock_hz' is 'fast'; it must be a positive whole number of Hz"),
    (r"^clock_hz = .*$", "clock_hz = 25e6", "key 'clock_hz' is 25000000.0; it must be a positive whole number of Hz"),
    (r"^timeout_s = .*$", 'timeout_s = "soon"', "[runner] key 'timeout_s' is 'soon'; it must be a positive number of seconds"),
    (r"^timeout_s = .*$", "timeout_s = -1", "[runner] key 'timeout_s' is -1; it must be a positive number of seconds"),
    (r'^sram_budget = .*$', "sram_budget = 42.5", "key 'sram_budget' is 42.5; it must be a whole number of bytes or a size"),
    (r'^flash_budget = .*$', "flash_budget = true", "key 'flash_budget' is True; it must be a whole number of bytes"),
    (r'^stack_bytes = .*$', 'stack_bytes = "lots"', "key 'stack_bytes': cannot read 'lots' as a byte size"),
    (r'^length = "4MiB"$', "length = 4.5", "[memory #1] key 'length' is 4.5"),
    (r'^cpu = .*$', "cpu = 7", "key 'cpu' is 7; it must be a string in quotes"),
    (r'^aliases = .*$', 'aliases = "qemu"', "key 'aliases' is 'qemu'; it must be a list of strings"),
    (r'^binary = .*$', "binary = 1", "[runner] key 'binary' is 1; it must be a string"),
])
def test_a_profile_value_of_the_wrong_type_names_file_key_and_what_it_must_be(pattern: str, replacement: str,
                                                                             words: str, tmp_path: Path) -> None:
    path = profile_with(tmp_path, pattern, replacement)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and words in message


def test_a_search_on_a_mistyped_profile_fails_in_one_line_before_creating_a_run(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = profile_with(tmp_path, r'^sram_budget = .*$', "sram_budget = 42.5")
    ran = tinyhil(["search", "--no-live", "--board", str(path), "--runs-dir", str(tmp_path / "runs")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and f"{path}: key 'sram_budget' is 42.5" in line and '"320KiB"' in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left


def test_the_shipped_profiles_pass_the_typed_loader() -> None:
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        profile = load_profile_file(path)
        assert isinstance(profile.clock_hz, int) and isinstance(profile.runner.get("timeout_s", 1.0), float)


@pytest.mark.parametrize("pattern, replacement, words", [
    (r'^origin = 0x20000000$', "origin = 0x00100000",
     "[[memory]] regions FLASH (0x00000000..0x00400000) and RAM (0x00100000..0x00500000) overlap; fix their origin"),
    (r'^length = "4MiB"$', "length = 0", "[memory #1] key 'length' is 0 bytes at 0x00000000; a region must hold at least one byte"),
    (r'^length = "4MiB"$', 'length = "100GiB"', "end inside the 32-bit address space"),
    (r'^origin = 0x20000000$', "origin = -5", "[memory #2] key 'origin' is -5; it must be an integer address"),
    (r'^holds = \["data", "bss", "stack"\]$', "holds = 5", "[memory #2] key 'holds' is 5; it must be a list of section names"),
    (r'^holds = \["data", "bss", "stack"\]$', 'holds = ["data", "bss", "stack", "text"]',
     "sections ['text'] are held by both [[memory]] regions FLASH and RAM; list each section in one region's holds"),
    (r'^name = "RAM"$', 'name = "FLASH"', "two [[memory]] regions are named 'FLASH'; give each its own name"),
    (r'^stack_bytes = .*$', 'stack_bytes = "64MiB"', "key 'stack_bytes' is 67,108,864 bytes, more than region RAM"),
    (r'^sram_budget = .*$', "sram_budget = 0", "key 'sram_budget' is 0, which no model fits"),
    (r'^type = "qemu"$', 'type = "jlink"', "[runner] key 'type' is 'jlink'; it must be one of qemu, pyocd, renode, fake"),
    (r'^bsp = .*$', 'bsp = "nosuch"', "key 'bsp' is 'nosuch', which is not a folder of"),
], ids=["overlap", "length-0", "past-4GiB", "origin-negative", "holds-not-a-list", "section-twice", "same-name",
        "stack-over-region", "budget-0", "runner-type", "bsp"])
def test_a_profile_whose_memory_map_or_names_cannot_work_fails_at_load_naming_what_to_fix(
        pattern: str, replacement: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = profile_with(tmp_path, pattern, replacement)
    ran = tinyhil(["spec", "cost", str(Path(__file__).with_name("tiny_spec.json")), "--board", str(path)], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and line.startswith(f"error: {path}: ") and words in line


def test_a_profile_path_that_is_a_folder_or_binary_is_named_not_a_crash(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(Path(__file__).with_name("tiny_spec.json"))
    folder = tmp_path / "my boards"
    folder.mkdir()
    ran = tinyhil(["spec", "cost", spec, "--board", str(folder)], capsys)
    assert ran.status == 2 and f"board profile {folder} is a folder; give a .toml file" in one_error_line(ran)
    binary = tmp_path / "board.toml"
    binary.write_bytes(b"\xff\xfe\x00\x89PNG")
    ran = tinyhil(["spec", "cost", spec, "--board", str(binary)], capsys)
    assert ran.status == 2 and f"{binary}: not a TOML text file (byte 0 is not UTF-8)" in one_error_line(ran)
