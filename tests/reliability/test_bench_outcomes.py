"""`tinyhil bench` says when a model does not fit (non-zero status, the measurement still written), and an
emulator failure's message points at logs that still exist."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tinyhil.hil.boards import PROFILE_DIR

from .cli_run import one_error_line, tinyhil
from ..codegen.tflite_builder import small_conv_model

pytestmark = pytest.mark.qemu


def test_a_model_over_the_sram_budget_exits_non_zero_and_keeps_its_measurement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = tinyhil(["bench", str(model), "--inputs", "2", "--sram-budget", "100B", "--workdir", str(tmp_path / "w"),
                   "--json", str(tmp_path / "m.json")], capsys)
    line = one_error_line(ran)
    assert ran.status == 2
    assert re.search(r"conv.tflite does not fit qemu-m7: peak SRAM \d+ B > budget 100 B \(measured\)", line)
    assert line.endswith("raise --sram-budget")  # the budget it exceeds, not the flash one too
    measured = json.loads((tmp_path / "m.json").read_text())
    assert measured["budgets"]["fits"] is False and measured["bit_exact"] is True
    assert "peak SRAM" in ran.out  # the table was printed before the verdict


def test_a_model_over_the_flash_budget_only_names_the_flash_option(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    ran = tinyhil(["bench", str(model), "--inputs", "1", "--flash-budget", "1KiB"], capsys)
    line = one_error_line(ran)
    assert ran.status == 2 and "flash" in line and line.endswith("raise --flash-budget")


def test_an_emulator_that_fails_points_at_a_runner_log_that_still_exists(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "conv.tflite"
    model.write_bytes(small_conv_model())
    profile = tmp_path / "broken-qemu.toml"
    profile.write_text(re.sub(r'^binary = .*$', 'binary = "false"', (PROFILE_DIR / "qemu-m7.toml").read_text(),
                              flags=re.MULTILINE))
    ran = tinyhil(["bench", str(model), "--inputs", "1", "--board", str(profile)], capsys)
    line = one_error_line(ran)
    kept = re.search(r"kept in (\S+)\)", line)
    try:
        assert ran.status == 2
        assert "QEMU exited with status 1 before its serial port opened; see " in line and kept
        log = Path(re.search(r"see (\S+runner\.log)", line).group(1))
        assert log.is_file() and log.is_relative_to(kept.group(1))
    finally:
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)
