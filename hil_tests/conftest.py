"""The hardware-in-the-loop suite runs against one board profile (default: the QEMU emulator).

    pytest hil_tests                                          # QEMU mps2-an500
    pytest hil_tests --board-profile nucleo-h743zi --board-hil  # a Nucleo on a debug probe
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tinyhil.hil.boards import BoardProfile, load_profile
from tinyhil.hil.dut import Dut
from tinyhil.hil.firmware import EXAMPLE_MODEL_DIR, FirmwareImage, build_firmware
from tinyhil.hil.runners import runner_for

# runner type -> the marker whose skip rule (tests/conftest_plugin.py) applies
RUNNER_MARKERS = {"qemu": "qemu", "pyocd": "board", "renode": "renode"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--board-profile", default="qemu-m7", help="board profile (name, alias or .toml) hil_tests run on")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marker = RUNNER_MARKERS.get(load_profile(config.getoption("--board-profile")).runner["type"], "board")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> BoardProfile:
    return load_profile(pytestconfig.getoption("--board-profile"))


@pytest.fixture(scope="session")
def build_image(profile: BoardProfile, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("firmware")

    def build(harness_mode: str = "normal", model_dir: Path = EXAMPLE_MODEL_DIR) -> FirmwareImage:
        return build_firmware(model_dir, profile, root, harness_mode=harness_mode)
    return build


@pytest.fixture
def dut(profile: BoardProfile, build_image, tmp_path: Path) -> Iterator[Dut]:  # type: ignore[no-untyped-def]
    device = Dut(runner_for(profile, tmp_path), build_image().elf)
    try:
        device.launch()
        yield device
    finally:
        device.close()
