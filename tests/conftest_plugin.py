"""Shared fixtures and the skip rules for tests that need tools or hardware."""

from __future__ import annotations

import shutil

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--board-hil", action="store_true", default=False,
                     help="run tests marked `board` against a real board attached by a debug probe")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    qemu_missing = [tool for tool in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(tool) is None]
    for item in items:
        if "qemu" in item.keywords and qemu_missing:
            item.add_marker(pytest.mark.skip(reason=f"{', '.join(qemu_missing)} not on PATH (scripts/install.sh installs them)"))
        if "toolchain" in item.keywords and shutil.which("arm-none-eabi-gcc") is None:
            item.add_marker(pytest.mark.skip(reason="arm-none-eabi-gcc not on PATH (scripts/install.sh installs it)"))
        if "renode" in item.keywords and shutil.which("renode") is None:
            item.add_marker(pytest.mark.skip(reason="renode not on PATH: install Renode to run live Renode tests"))
        if "board" in item.keywords and not config.getoption("--board-hil"):
            item.add_marker(pytest.mark.skip(reason="real-board test: attach a Nucleo-H743ZI and pass --board-hil"))
