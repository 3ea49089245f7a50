"""`tinyhil boards` is truthful about what is usable here; a Measurement survives JSON."""

from __future__ import annotations

import json
import shutil

import numpy as np
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.measurement import Measurement


def test_boards_lists_every_profile_with_a_truthful_usable_line() -> None:
    result = CliRunner().invoke(cli, ["boards"], catch_exceptions=False)
    assert result.exit_code == 0
    blocks = {block.split()[0]: block for block in result.output.split("\n") if block and not block.startswith(" ")}
    assert {"nucleo-h743zi", "qemu-m7", "renode-stm32h743"} <= set(blocks)
    lines = result.output.splitlines()
    usable = {lines[i - 3].split()[0]: lines[i] for i, line in enumerate(lines) if "usable now" in line}
    qemu_ready = all(shutil.which(t) for t in ("qemu-system-arm", "arm-none-eabi-gcc", "cmake"))
    assert usable["qemu-m7"].strip().startswith("usable now: yes" if qemu_ready else "usable now: no")
    renode_ready = shutil.which("renode") is not None
    assert usable["renode-stm32h743"].strip().startswith("usable now: yes" if renode_ready else "usable now: no - renode")


def test_a_measurement_round_trips_through_json() -> None:
    m = Measurement(latency_median=100, latency_unit="instructions", latency_runs=[100, 120, 100],
                    static_ram_bytes=5000, stack_high_water_bytes=300, peak_sram_bytes=5300, arena_bytes=4096,
                    flash_bytes=20000, bit_exact=True, outputs=np.arange(6, dtype=np.int8).reshape(2, 3),
                    provenance={"board": "qemu-m7", "kind": "emulator"})
    plain = json.loads(json.dumps(m.to_dict()))
    assert "outputs" not in plain and plain["peak_sram_bytes"] == 5300
    back = Measurement.from_dict(json.loads(json.dumps(m.to_dict(with_outputs=True))))
    assert back.latency_runs == [100, 120, 100] and np.array_equal(back.outputs, m.outputs)
