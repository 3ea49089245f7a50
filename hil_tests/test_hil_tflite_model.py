"""End to end on the target: a real int8 .tflite -> generated C -> firmware -> outputs bit-exact
with the tflite-micro reference, through tinyhil.hil.bench.measure (contract B)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.bench import measure
from tinyhil.errors import BuildError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorflow")
    from .keras_models import mobilenet_like_tflite

    return mobilenet_like_tflite(tmp_path_factory.mktemp("model") / "small_cnn.tflite", input_hw=16, width=8)


def test_a_converted_cnn_runs_bit_exact_on_the_target(small_cnn: Path, profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inputs = np.random.default_rng(3).integers(-128, 128, size=(3, 16, 16, 3), dtype=np.int8)
    measurement = measure(small_cnn, profile, inputs, workdir=tmp_path)
    assert measurement.bit_exact, "outputs differ from the tflite-micro reference"
    assert measurement.outputs.shape == (3, 10)
    assert measurement.latency_unit == profile.latency_unit and measurement.latency_median > 10_000
    assert measurement.peak_sram_bytes == measurement.static_ram_bytes + measurement.stack_high_water_bytes
    assert 0 < measurement.arena_bytes < measurement.static_ram_bytes
    assert measurement.provenance["board"] == profile.name and len(measurement.provenance["firmware_sha256"]) == 64
    again = measure(small_cnn, profile, inputs, workdir=tmp_path)  # cached build, deterministic count on emulators
    if profile.kind == "emulator":
        assert again.latency_runs == measurement.latency_runs


def test_the_tflm_runtime_is_refused_with_the_reason(small_cnn: Path, profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BuildError, match="TFLM"):
        measure(small_cnn, profile, np.zeros((1, 16, 16, 3), np.int8), runtime="tflm", workdir=tmp_path)


def test_tinyhil_bench_prints_the_table_and_writes_json(small_cnn: Path, profile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from tinyhil.cli import cli

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", str(small_cnn), "--board", profile.name, "--inputs", "2",
                                      "--workdir", str(tmp_path / "work"), "--json", str(out),
                                      "--sram-budget", "64KiB"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert profile.latency_unit in result.output and "bit-exact" in result.output and "yes" in result.output
    data = json.loads(out.read_text())
    assert data["bit_exact"] is True and data["latency_unit"] == profile.latency_unit
    assert data["budgets"]["sram_bytes"] == 64 * 1024 and len(data["latency_runs"]) == 2
    assert data["provenance"]["kind"] == profile.kind
    # the per-layer table: one row per generated layer, in the board's unit, with MACs and its source
    assert f"per-layer latency, {profile.latency_unit}" in result.output and "CONV_2D" in result.output
    assert "sum of layers" in result.output and f"{profile.latency_unit}/MAC" in result.output
    layers = data["layer_latency"]
    assert len(layers) >= 3 and all(row["latency"] > 0 and row["op"] and row["macs"] >= 0 for row in layers)
    assert sum(row["latency"] for row in layers) <= data["latency_median"]
    assert data["provenance"]["layer_latency_source"]
