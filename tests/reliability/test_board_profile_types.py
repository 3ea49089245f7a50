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
