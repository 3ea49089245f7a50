"""The paper's block ingredients (LeakyReLU, hard-swish, squeeze-excitation, swish), exported by the
converter, cross-compiled for the Cortex-M7 and run on QEMU mps2-an500 through the HIL harness: the
same bytes as the TFLM reference interpreter, with the kernels' fast paths (table lookups, SMULBB /
SMMLAR MUL) and with their portable C99 paths, and the fast paths take fewer instructions."""

from __future__ import annotations

import numpy as np
import pytest

from .keras_paper_blocks import export_int8


@pytest.mark.qemu
@pytest.mark.slow
def test_paper_blocks_are_bit_exact_on_the_cortex_m7_emulator_in_both_kernel_builds(tmp_path) -> None:
    bench = pytest.importorskip("tinyhil.hil.bench", reason="the HIL bench (tinyhil.hil.bench) is not in this checkout")
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware
    from tinyhil.codegen.reference import ReferenceInterpreter

    blob = export_int8(resolution=14, seed=4)  # 14x14, then 7x7: odd sizes exercise the 4-wide loops' tails
    rng = np.random.default_rng(6)
    inputs = rng.integers(-128, 128, size=(3, 1, 14, 14, 3), dtype=np.int8)
    inputs[0] = -128
    inputs[1] = 127
    profile = load_profile("qemu-m7")
    generated = generate(blob, tmp_path / "model")
    reference = ReferenceInterpreter(blob)
    expected = np.stack([reference.invoke(x) for x in inputs])
    measured = {}
    for portable in (False, True):
        image = build_firmware(generated.out_dir, profile, tmp_path / "build", portable_kernels=portable)
        outcome = bench.run_image(image, profile, inputs, tmp_path / f"run-{portable}")
        measured[portable] = bench.summarise(image, profile, outcome, expected, "native", generated.layers)
        assert measured[portable].bit_exact, f"portable kernels: {portable}"
        assert measured[portable].latency_unit == "instructions"
    activations = [i for i, layer in enumerate(generated.layers) if layer.opcode in ("LEAKY_RELU", "HARD_SWISH",
                                                                                     "LOGISTIC", "MUL")]
    fast, portable = (sum(measured[p].layer_latency[i]["latency"] for i in activations) for p in (False, True))
    assert 0 < fast < portable
