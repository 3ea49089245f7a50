"""Runner command lines, the generated Renode script and the probe's serial-port discovery, pinned."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.errors import ConfigError, RunnerError
from tinyhil.hil.runners import runner_class, runner_for
from tinyhil.hil.runners.pyocd_runner import find_serial_port
from tinyhil.hil.runners.renode import resc_script


def test_the_profile_picks_its_runner_from_the_registry(tmp_path: Path) -> None:
    assert type(runner_for(load_profile("qemu-m7"), tmp_path)).__name__ == "QemuRunner"
    assert type(runner_for(load_profile("stm32h7"), tmp_path)).__name__ == "PyocdRunner"
    assert type(runner_for(load_profile("renode"), tmp_path)).__name__ == "RenodeRunner"


def test_an_unknown_runner_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown runner type 'jlink'"):
        runner_class("jlink")


def test_the_qemu_command_line_counts_instructions_and_serves_the_uart_on_loopback(tmp_path: Path) -> None:
    runner = runner_for(load_profile("qemu-m7"), tmp_path)
    runner.port = 45678
    assert runner.command_line(Path("/fw/firmware.elf")) == [
        "qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none", "-icount", "shift=0,sleep=off",
        "-semihosting-config", "enable=on,target=native",
        "-serial", "tcp:127.0.0.1:45678,server=on,wait=on,nodelay=on", "-kernel", "/fw/firmware.elf"]


def test_pyocd_commands_are_bounded_and_name_the_target_explicitly(tmp_path: Path) -> None:
    runner = runner_for(load_profile("nucleo-h743zi"), tmp_path)
    runner.probe_uid = "066DFF535155878281151932"
    assert runner.command_line(Path("fw.elf")) == [
        "pyocd", "load", "--no-wait", "-t", "stm32h743xx", "-u", "066DFF535155878281151932", "--format", "elf", "fw.elf"]
    assert runner.reset_command_line() == ["pyocd", "reset", "--no-wait", "-t", "stm32h743xx",
                                           "-u", "066DFF535155878281151932"]


def test_the_probe_serial_port_is_found_by_its_usb_serial_number() -> None:
    ports = [SimpleNamespace(device="/dev/ttyUSB0", serial_number="A50285BI"),
             SimpleNamespace(device="/dev/ttyACM0", serial_number="066DFF535155878281151932"),
             SimpleNamespace(device="/dev/ttyS0", serial_number=None)]
    assert find_serial_port("066dff535155878281151932", lambda: ports) == "/dev/ttyACM0"


def test_a_missing_probe_port_lists_what_was_seen() -> None:
    ports = [SimpleNamespace(device="/dev/ttyUSB0", serial_number="A50285BI")]
    with pytest.raises(RunnerError, match=r"no serial port belongs to probe 0669.*ttyUSB0 \(serial A50285BI\)"):
        find_serial_port("0669", lambda: ports)


def test_the_renode_script_loads_platform_elf_and_a_uart_socket() -> None:
    script = resc_script("platforms/boards/nucleo_h753zi.repl", "sysbus.usart3", Path("/fw/firmware.elf"), 40123)
    assert script.splitlines()[1:] == [
        'mach create "tinyhil"',
        "machine LoadPlatformDescription @platforms/boards/nucleo_h753zi.repl",
        'emulation CreateServerSocketTerminal 40123 "uart" false',
        "connector Connect sysbus.usart3 uart",
        "sysbus LoadELF @/fw/firmware.elf",
        "start"]


def test_the_renode_command_line_is_headless(tmp_path: Path) -> None:
    runner = runner_for(load_profile("renode-stm32h743"), tmp_path)
    runner.port = 40123
    script = runner.write_script(Path("/fw/firmware.elf"))
    assert runner.command_line(Path("/fw/firmware.elf")) == ["renode", "--console", "--disable-xwt", str(script)]
    assert "sysbus LoadELF @/fw/firmware.elf" in script.read_text()


def test_availability_gives_a_reason_either_way() -> None:
    for profile_name in ("qemu-m7", "renode-stm32h743"):
        profile = load_profile(profile_name)
        usable, reason = runner_class(profile.runner["type"]).availability(profile)
        assert isinstance(usable, bool) and reason


def test_pyocd_without_a_probe_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    from tinyhil.hil.runners.pyocd_runner import connected_probe_ids

    if connected_probe_ids():
        pytest.skip("a debug probe is attached: this test checks the no-probe path")
    runner = runner_for(load_profile("nucleo-h743zi"), tmp_path)
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(RunnerError, match=r"no debug probe attached"):
        runner.start(elf)  # before any `pyocd load`, which would wait for a probe


def test_the_emulator_serial_link_is_a_two_way_socket_that_closes_its_end(tmp_path: Path) -> None:
    import socket

    from tinyhil.hil.runners.emulator import LoopbackSerial

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    link = LoopbackSerial(f"socket://127.0.0.1:{port}", timeout=1.0)
    peer, _ = server.accept()
    with server, peer:
        link.write(b"hello")
        assert peer.recv(16) == b"hello"
        peer.sendall(b"reply")
        assert link.read(5) == b"reply"
        # Nagle off: a reply's small segments must not wait for the emulator's delayed ACKs
        assert link._socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        link.close()
        assert peer.recv(16) == b"" and not link.is_open  # the emulator's end sees the link closed
        link.close()  # closing twice is harmless
