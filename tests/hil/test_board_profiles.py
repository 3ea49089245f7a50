"""Board profiles: the shipped ones load; a broken file gives an error naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.hil.boards import PROFILE_DIR, list_profiles, load_profile
from tinyhil.errors import ConfigError
from tinyhil.hil.firmware import linker_script

QEMU_TOML = (PROFILE_DIR / "qemu-m7.toml").read_text()


def test_every_shipped_profile_loads_and_places_every_section() -> None:
    names = {p.name for p in list_profiles()}
    assert {"nucleo-h743zi", "qemu-m7", "renode-stm32h743"} <= names


def test_aliases_resolve_to_their_profile() -> None:
    assert load_profile("stm32h7").name == "nucleo-h743zi"
    assert load_profile("nucleo-h743").name == "nucleo-h743zi"
    assert load_profile("qemu").name == "qemu-m7"


def test_the_nucleo_profile_carries_the_rm0433_memory_map() -> None:
    profile = load_profile("nucleo-h743zi")
    regions = {r.name: (r.origin, r.length) for r in profile.memory}
    assert regions["FLASH"] == (0x08000000, 2 * 1024 * 1024)
    assert regions["DTCM"] == (0x20000000, 128 * 1024)
    assert regions["AXI_SRAM"] == (0x24000000, 512 * 1024)
    assert regions["SRAM4"] == (0x38000000, 64 * 1024)
    assert profile.region_for("stack").name == "DTCM" and profile.region_for("bss").name == "AXI_SRAM"
    assert profile.runner["target"] == "stm32h743xx" and profile.latency_unit == "cycles"
    assert profile.sram_budget_bytes == 320 * 1024


def test_budgets_can_be_overridden_with_units() -> None:
    profile = load_profile("qemu-m7").with_budgets("256KiB", "1MiB")
    assert (profile.sram_budget_bytes, profile.flash_budget_bytes) == (256 * 1024, 1024 * 1024)


def test_an_unknown_name_lists_the_known_profiles() -> None:
    with pytest.raises(ConfigError, match="qemu-m7"):
        load_profile("esp32")


def test_a_missing_key_is_named_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(QEMU_TOML.replace('latency_unit = "instructions"\n', ""))
    with pytest.raises(ConfigError, match=r"broken\.toml.*'latency_unit'"):
        load_profile(str(path))


def test_a_missing_runner_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "norunner.toml"
    path.write_text(QEMU_TOML.replace('type = "qemu"\n', ""))
    with pytest.raises(ConfigError, match=r"norunner\.toml.*'type' in \[runner\]"):
        load_profile(str(path))


def test_bad_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("name = [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_profile(str(path))


def test_a_wrong_enum_value_says_what_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "kind.toml"
    path.write_text(QEMU_TOML.replace('kind = "emulator"', 'kind = "simulator"'))
    with pytest.raises(ConfigError, match="must be one of board, emulator"):
        load_profile(str(path))


def test_a_section_without_a_region_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nostack.toml"
    path.write_text(QEMU_TOML.replace('holds = ["data", "bss", "stack"]', 'holds = ["data", "bss"]'))
    with pytest.raises(ConfigError, match="no \\[\\[memory\\]\\] region holds section 'stack'"):
        load_profile(str(path))


def test_the_linker_script_comes_from_the_profile_regions() -> None:
    script = linker_script(load_profile("nucleo-h743zi"))
    assert "AXI_SRAM (rwx) : ORIGIN = 0x24000000, LENGTH = 524288" in script
    assert 'REGION_ALIAS("REGION_STACK", DTCM);' in script
    assert 'REGION_ALIAS("REGION_BSS", AXI_SRAM);' in script
    assert "STACK_SIZE = 32768;" in script and "INCLUDE sections.ld" in script


def test_the_baud_rate_comes_from_the_profile_and_is_checked(tmp_path: Path) -> None:
    assert load_profile("nucleo-h743zi").baud_rate == 2_000_000 and load_profile("qemu-m7").baud_rate == 115_200
    for value, shown in (('"fast"', "'fast'"), ("0", "0"), ("20_000_000", "20000000"), ("115200.5", "115200.5")):
        path = tmp_path / "bad-baud.toml"
        path.write_text(QEMU_TOML.replace("baudrate = 115200", f"baudrate = {value}"))
        with pytest.raises(ConfigError) as caught:
            load_profile(str(path))
        assert str(caught.value) == (f"{path}: [serial] baudrate is {shown}; it must be an integer number of bit/s "
                                     "from 1,200 to 12,000,000, e.g. 115200 or 2000000")


def test_a_firmware_built_for_another_baud_rate_is_another_build() -> None:
    import dataclasses

    from tinyhil.hil.firmware import EXAMPLE_MODEL_DIR, build_key

    profile = load_profile("nucleo-h743zi")
    slower = dataclasses.replace(profile, serial={**profile.serial, "baudrate": 115_200})
    assert build_key(EXAMPLE_MODEL_DIR, profile, "normal") != build_key(EXAMPLE_MODEL_DIR, slower, "normal")
