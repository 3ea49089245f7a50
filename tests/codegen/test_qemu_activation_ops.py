"""The paper's block ingredients (LeakyReLU, hard-swish, squeeze-excitation, swish), exported by the
converter, cross-compiled for the Cortex-M7 (table lookups, SMULBB/SMMLAR MUL) and run on QEMU
mps2-an500 through the HIL harness: the same bytes as the TFLM reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from .keras_paper_blocks import export_int8


@pytest.mark.qemu
@pytest.mark.slow
def test_paper_blocks_are_bit_exact_on_the_cortex_m7_emulator(tmp_path) -> None:
    bench = pytest.importorskip("tinyhil.bench", reason="the HIL bench (tinyhil.bench) is not in this checkout")
    from tinyhil.boards import load_profile

    blob = export_int8(resolution=14, seed=4)  # 14x14, then 7x7: odd sizes exercise the 4-wide loops' tails
    rng = np.random.default_rng(6)
    inputs = rng.integers(-128, 128, size=(4, 1, 14, 14, 3), dtype=np.int8)
    inputs[0] = -128
    inputs[1] = 127
    measurement = bench.measure(blob, load_profile("qemu-m7"), inputs, runtime="native", workdir=tmp_path)
    assert measurement.bit_exact
    assert measurement.latency_unit == "instructions" and measurement.latency_median > 0
