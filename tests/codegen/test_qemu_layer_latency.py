"""Per-layer latency measured on the Cortex-M7 emulator: the generated model's hook stamps the clock of
the total after every layer, the harness sends the stamps with each result, and the layers add up to
the whole inference. The hook's own cost is measured against a build without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .keras_nets import NetConfig, export_int8


@pytest.fixture(scope="module")
def small_net() -> bytes:
    cfg = NetConfig(resolution=18, width=6, expansion=3, stages=((6, 1, 1), (10, 2, 2)), classes=5)
    return export_int8(cfg, seed=3)


@pytest.mark.qemu
@pytest.mark.slow
def test_per_layer_latencies_are_positive_one_per_layer_and_sum_to_the_total(small_net: bytes, tmp_path: Path) -> None:
    from tinyhil.hil import bench
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate

    layers = generate(small_net, tmp_path / "c").layers
    inputs = np.random.default_rng(5).integers(-128, 128, size=(3, 1, 18, 18, 3), dtype=np.int8)
    m = bench.measure(small_net, load_profile("qemu-m7"), inputs, workdir=tmp_path)
    assert m.bit_exact
    assert [row["index"] for row in m.layer_latency] == list(range(len(layers)))
    assert [row["op"] for row in m.layer_latency] == [layer.opcode for layer in layers]
    assert [row["macs"] for row in m.layer_latency] == [layer.macs for layer in layers]
    assert all(row["latency"] > 0 for row in m.layer_latency)
    # the layers cover everything but the copy of the 5-byte output and the return: a few timer ticks at most
    outside = m.latency_median - m.layer_latency_sum
    assert 0 <= outside <= max(200, m.latency_median // 200), (m.latency_median, m.layer_latency_sum)
    assert m.provenance["layer_latency_source"]


@pytest.mark.qemu
@pytest.mark.slow
def test_the_per_layer_hook_costs_a_tiny_fraction_of_the_total(small_net: bytes, tmp_path: Path) -> None:
    from tinyhil.hil import bench
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware

    profile = load_profile("qemu-m7")
    generated = generate(small_net, tmp_path / "c")
    inputs = np.random.default_rng(6).integers(-128, 128, size=(2, 1, 18, 18, 3), dtype=np.int8)
    runs = {}
    for timing in (True, False):
        image = build_firmware(generated.out_dir, profile, tmp_path / "build", layer_timing=timing)
        runs[timing] = bench.run_image(image, profile, inputs, tmp_path / f"run-{timing}")
    timed, untimed = runs[True], runs[False]
    assert np.array_equal(timed.outputs, untimed.outputs)
    assert untimed.layer_latencies == [(), ()] and all(len(run) == len(generated.layers) for run in timed.layer_latencies)
    overhead = timed.latencies[0] - untimed.latencies[0]
    # one call, one timer read and one store per layer: tens of instructions per layer, measured in 40-instruction ticks
    assert 0 <= overhead <= 40 * len(generated.layers), overhead
    assert overhead / untimed.latencies[0] < 0.005
