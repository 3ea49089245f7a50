"""`tinyhil boards` is truthful about what is usable here; a Measurement survives JSON."""

from __future__ import annotations

import json
import shutil

import numpy as np
from click.testing import CliRunner

from tinyhil.cli import cli
from tinyhil.hil.measurement import Measurement


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


def test_per_layer_latency_round_trips_and_bench_prints_it_with_unit_macs_and_source() -> None:
    from rich.console import Console

    from tinyhil.commands.bench import layer_table

    m = Measurement(latency_median=10_000, latency_unit="instructions", latency_runs=[10_000] * 3,
                    static_ram_bytes=5000, stack_high_water_bytes=300, peak_sram_bytes=5300, arena_bytes=4096,
                    flash_bytes=20000, bit_exact=True, outputs=np.zeros((3, 2), np.int8),
                    provenance={"board": "qemu-m7", "kind": "emulator", "latency_meaning": "CMSDK ticks x 40",
                                "layer_latency_source": "per-layer hook"},
                    layer_latency=[{"index": 0, "op": "CONV_2D", "macs": 2000, "latency": 6000},
                                   {"index": 1, "op": "SOFTMAX", "macs": 0, "latency": 3960}])
    back = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.layer_latency == m.layer_latency and back.layer_latency_sum == 9960
    console = Console(width=200, record=True)
    console.print(layer_table(m))
    text = console.export_text()
    assert "per-layer latency, instructions" in text and "measured on emulator qemu-m7" in text
    assert "CONV_2D" in text and "2,000" in text and "6,000" in text and "3.00" in text and "60.0%" in text
    assert "sum of layers 9,960 instructions vs total 10,000 instructions: 40 outside" in text
    assert "per-layer hook" in text


def test_an_old_measurement_without_layer_latency_still_loads() -> None:
    data = {"latency_median": 5, "latency_unit": "cycles", "latency_runs": [5], "static_ram_bytes": 1,
            "stack_high_water_bytes": 1, "peak_sram_bytes": 2, "arena_bytes": 1, "flash_bytes": 1, "bit_exact": True}
    assert Measurement.from_dict(data).layer_latency == []
