"""`tinyhil doctor`: every step passes on QEMU; on the Nucleo path (fake pyocd on PATH) a missing probe
stops at the first line with what to do, and a revision Y chip is named and warned about."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyhil.hil.checks import Check
from tinyhil.cli import cli

from .conftest import NUCLEO_UID

STEP_LINE = re.compile(r"^(ok|warn|FAIL|skip) +\S+ +\S")


@pytest.mark.qemu
def test_doctor_passes_every_step_on_qemu(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--board", "qemu-m7", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:-1]
    assert all(STEP_LINE.match(line) for line in lines), result.output
    steps = {line.split()[1]: line.split()[0] for line in lines}
    assert [steps[s] for s in ("qemu", "firmware", "hello", "clock", "counter", "bit-exact")] == ["ok"] * 6
    assert "the firmware runs at 25 MHz, as the profile says" in result.output
    assert "10 of 10 outputs equal the host twin bit for bit" in result.output
    assert re.search(r"the counter advances: (\d+) and \1 instructions", result.output)  # -icount: deterministic
    assert result.output.splitlines()[-1].startswith("doctor: all ")


def test_doctor_without_a_probe_fails_at_the_probe_and_says_which_usb_port(fake_pyocd, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["doctor", "--board", "stm32h7", "--workdir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1].startswith("FAIL probe") and "CN1" in lines[1] and "->" in lines[1]
    assert [line.split()[0] for line in lines[2:7]] == ["skip"] * 5
    assert "1 step(s) failed (probe)" in lines[-1]


@pytest.mark.toolchain
def test_doctor_names_a_revision_y_chip_then_stops_where_the_serial_port_is_missing(fake_pyocd, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pyocd.attach(NUCLEO_UID)
    monkeypatch.setenv("FAKE_PYOCD_IDC", "10036450")
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    result = CliRunner().invoke(cli, ["doctor", "--board", "stm32h7", "--workdir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()[1:-1]}
    assert lines["probe"].startswith("ok") and NUCLEO_UID in lines["probe"] and "V2J40M27" in lines["probe"]
    assert lines["target"].startswith("warn") and "revision Y" in lines["target"] and "400 MHz" in lines["target"]
    assert lines["firmware"].startswith("ok")
    assert lines["hello"].startswith("FAIL") and f"no serial port belongs to probe {NUCLEO_UID}" in lines["hello"]
    assert fake_pyocd.events()[-1].startswith("pyocd cmd ")  # nothing was flashed without a port to listen on


def test_a_check_line_is_status_step_detail_and_what_to_do() -> None:
    assert Check("clock", "warn", "400 MHz", "use the reported clock").line() == \
        "warn clock     400 MHz  -> use the reported clock"
    with pytest.raises(ValueError, match="not one of"):
        Check("clock", "bad", "x")
