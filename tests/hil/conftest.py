"""Fixtures for the runner tests: a fake `pyocd` on PATH (fake_pyocd.py) and a recording serial port."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tinyhil.hil.runners import pyocd_runner

NUCLEO_UID = "066DFF535155878281151932"
OTHER_UID = "0671FF3833354B5043184527"


@pytest.fixture
def fake_pyocd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Put the fake on PATH; returns a function that sets the attached probes and reads the event log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pyocd"
    script.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "fake_pyocd.py").read_text())
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    events = tmp_path / "events.log"
    events.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PYOCD_EVENTS", str(events))

    class Fake:
        def attach(self, *uids: str) -> None:
            monkeypatch.setenv("FAKE_PYOCD_PROBES", ",".join(uids))

        def events(self) -> list[str]:
            return events.read_text().splitlines()

        def record(self, line: str) -> None:
            with open(events, "a") as file:
                file.write(line + "\n")
    fake = Fake()
    fake.attach()
    return fake


@pytest.fixture
def fake_serial(fake_pyocd, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """serial.Serial and the port lookup replaced by recorders writing to the same event log."""
    class RecordingSerial:
        def __init__(self, port: str, baudrate: int, timeout: float):
            fake_pyocd.record(f"open {port} {baudrate}")
            self.timeout = timeout

        def reset_input_buffer(self) -> None:
            fake_pyocd.record("flush input")

        def close(self) -> None:
            fake_pyocd.record("close")
    monkeypatch.setattr(pyocd_runner.serial, "Serial", RecordingSerial)
    monkeypatch.setattr(pyocd_runner, "find_serial_port", lambda uid: f"/dev/ttyACM-{uid[-4:]}")
