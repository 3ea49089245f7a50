"""The generated C, cross-compiled for the Cortex-M7 and run on QEMU mps2-an500 through the HIL
harness, gives the same bytes as the TFLM reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from .keras_nets import NetConfig, export_int8


@pytest.mark.qemu
@pytest.mark.slow
def test_generated_model_is_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    bench = pytest.importorskip("tinyhil.hil.bench", reason="the HIL bench (tinyhil.hil.bench) is not in this checkout")
    from tinyhil.hil.boards import load_profile

    # odd pixel counts (9x9) and channel counts that are not multiples of 4 exercise the DSP
    # kernels' remainder loops as well as their 2x2 / 4-channel blocks
    cfg = NetConfig(resolution=18, width=6, expansion=3, stages=((6, 1, 1), (10, 2, 2)), classes=5)
    blob = export_int8(cfg, seed=3)
    profile = load_profile("qemu-m7")
    rng = np.random.default_rng(5)
    inputs = rng.integers(-128, 128, size=(4, 1, 18, 18, 3), dtype=np.int8)
    inputs[0] = -128
    inputs[1] = 127
    measurement = bench.measure(blob, profile, inputs, runtime="native", workdir=tmp_path)
    assert measurement.bit_exact
    assert measurement.latency_unit == "instructions" and measurement.latency_median > 0
    assert measurement.provenance["kind"] == "emulator"


@pytest.mark.qemu
@pytest.mark.slow
def test_squeezenet_like_net_with_concatenations_is_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    """CONCATENATION, a standalone RELU6 and the max pool's word path on the M7, as the converter writes a
    branchy net."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    from .keras_nets import build_fire_keras, export_model_int8

    blob = export_model_int8(build_fire_keras(resolution=18), seed=2)
    inputs = np.random.default_rng(6).integers(-128, 128, size=(3, 1, 18, 18, 3), dtype=np.int8)
    inputs[0] = -128
    measurement = measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=tmp_path)
    assert measurement.bit_exact
