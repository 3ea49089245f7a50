"""The pyOCD runner against a fake `pyocd` on PATH (tests/hil/fake_pyocd.py): exact command lines, the probe
choice with zero, one and two probes and partial UIDs, and the serial port opened and flushed before the
firmware starts (so its boot hello is not lost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.errors import RunnerError
from tinyhil.hil.runners import runner_for
from tinyhil.hil.runners import pyocd_runner

from .conftest import NUCLEO_UID, OTHER_UID


def nucleo(tmp_path: Path, probe_uid: str = ""):  # type: ignore[no-untyped-def]
    runner = runner_for(load_profile("nucleo-h743zi"), tmp_path / "run")
    runner.probe_uid = probe_uid
    return runner


def test_with_one_probe_load_names_it_with_u_after_the_port_is_open_and_flushed(fake_pyocd, fake_serial,
                                                                               tmp_path: Path) -> None:
    fake_pyocd.attach(NUCLEO_UID)
    runner = nucleo(tmp_path)
    runner.start(Path("/fw/firmware.elf"))
    assert fake_pyocd.events() == [
        "pyocd json --probes",
        "open /dev/ttyACM-1932 2000000",  # the profile's [serial] baudrate
        "flush input",
        f"pyocd load --no-wait -t stm32h743xx -u {NUCLEO_UID} --format elf /fw/firmware.elf"]


def test_reset_flushes_before_the_reset_never_after_it(fake_pyocd, fake_serial, tmp_path: Path) -> None:
    fake_pyocd.attach(NUCLEO_UID)
    runner = nucleo(tmp_path)
    runner.start(Path("fw.elf"))
    before = len(fake_pyocd.events())
    runner.reset()
    assert fake_pyocd.events()[before:] == ["flush input", f"pyocd reset --no-wait -t stm32h743xx -u {NUCLEO_UID}"]


def test_with_two_probes_and_no_uid_nothing_is_flashed_and_the_error_lists_both(fake_pyocd, fake_serial,
                                                                              tmp_path: Path) -> None:
    fake_pyocd.attach(NUCLEO_UID, OTHER_UID)
    with pytest.raises(RunnerError, match=rf"2 debug probes attached \({NUCLEO_UID}, {OTHER_UID}\); set \[runner\] probe_uid"):
        nucleo(tmp_path).start(Path("fw.elf"))
    assert fake_pyocd.events() == ["pyocd json --probes"]  # no `pyocd load` that would prompt on stdin


def test_with_two_probes_a_partial_uid_picks_one_and_load_gets_the_full_uid(fake_pyocd, fake_serial,
                                                                           tmp_path: Path) -> None:
    fake_pyocd.attach(NUCLEO_UID, OTHER_UID)
    runner = nucleo(tmp_path, probe_uid="8281151932".lower())  # any unique part, any case, as pyOCD's -u matches
    runner.start(Path("fw.elf"))
    assert fake_pyocd.events()[-1] == f"pyocd load --no-wait -t stm32h743xx -u {NUCLEO_UID} --format elf fw.elf"


def test_a_partial_uid_matching_both_probes_is_refused(fake_pyocd, fake_serial, tmp_path: Path) -> None:
    fake_pyocd.attach(NUCLEO_UID, OTHER_UID)
    with pytest.raises(RunnerError, match=r"probe_uid '06' matches 2 probes"):
        nucleo(tmp_path, probe_uid="06").start(Path("fw.elf"))


def test_with_no_probe_start_fails_at_once_saying_which_usb_port_to_plug(fake_pyocd, fake_serial,
                                                                        tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match=r"no debug probe attached .*ST-LINK USB port \(CN1"):
        nucleo(tmp_path).start(Path("fw.elf"))
    assert fake_pyocd.events() == ["pyocd json --probes"]


def test_a_uid_that_is_not_attached_names_the_attached_ones(fake_pyocd, fake_serial, tmp_path: Path) -> None:
    fake_pyocd.attach(OTHER_UID)
    with pytest.raises(RunnerError, match=rf"probe 1932 is not attached; attached: {OTHER_UID}"):
        nucleo(tmp_path, probe_uid="1932").start(Path("fw.elf"))


def test_a_failing_load_says_what_failed_and_what_to_check(fake_pyocd, fake_serial, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pyocd.attach(NUCLEO_UID)
    monkeypatch.setenv("FAKE_PYOCD_FAIL", "load")
    with pytest.raises(RunnerError, match=r"pyocd load .* failed \(exit 1\): .*No target device available.*doctor"):
        nucleo(tmp_path).start(Path("fw.elf"))


def test_the_silicon_revision_is_read_from_dbgmcu_idc_without_halting_the_core(fake_pyocd, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pyocd.attach(NUCLEO_UID)
    monkeypatch.setenv("FAKE_PYOCD_IDC", "10036450")
    runner = nucleo(tmp_path)
    idc, firmware = runner.read_target_id()
    assert fake_pyocd.events()[-1] == (f"pyocd cmd --no-wait -t stm32h743xx -u {NUCLEO_UID} -M attach "
                                       "-L pyocd.probe.stlink.stlink=debug -c read32 0x5c001000")
    assert (idc & 0xFFF, pyocd_runner.silicon_revision(idc), firmware) == (0x450, "Y", "V2J40M27")


def test_availability_through_the_fake_names_the_probe(fake_pyocd) -> None:
    profile = load_profile("nucleo-h743zi")
    assert pyocd_runner.PyocdRunner.availability(profile)[0] is False
    fake_pyocd.attach(NUCLEO_UID)
    assert pyocd_runner.PyocdRunner.availability(profile) == (True, f"probe {NUCLEO_UID} attached, target stm32h743xx")
