"""MobileNetV2-like nets of several sizes, exported by TFLiteConverter: the generated C is
bit-exact with the TFLM interpreter on many inputs, and its arena is smaller than TFLM's."""

from __future__ import annotations

import pytest

from tinyhil.codegen.reference import tflm_arena_bytes

from .keras_nets import NetConfig, export_int8

NETS = {
    "32px-w8": NetConfig(),
    "24px-w12-gray": NetConfig(resolution=24, channels=1, width=12, expansion=6,
                               stages=((12, 1, 1), (20, 2, 2), (32, 1, 2)), classes=7, softmax=False),
}


@pytest.fixture(scope="module", params=sorted(NETS))
def exported(request: pytest.FixtureRequest) -> bytes:
    return export_int8(NETS[request.param], seed=len(request.param))


@pytest.mark.slow
def test_mobilenetv2_like_net_is_bit_exact_on_many_inputs(exported: bytes, check_bit_exact) -> None:
    assert check_bit_exact(exported, n_random=30, seed=1) == 32


@pytest.mark.slow
def test_squeezenet_like_net_with_concatenations_is_bit_exact_on_many_inputs(check_bit_exact) -> None:
    from .keras_nets import build_fire_keras, export_model_int8

    assert check_bit_exact(export_model_int8(build_fire_keras(), seed=1), n_random=20, seed=2) == 22


@pytest.mark.slow
def test_arena_is_at_most_0_7x_the_tflm_interpreter_arena(exported: bytes, runtime_workdir) -> None:
    from tinyhil.codegen import generate

    generated = generate(exported, runtime_workdir / "arena_check")
    theirs = tflm_arena_bytes(exported)
    assert generated.arena_bytes <= 0.7 * theirs, (generated.arena_bytes, theirs)
    # the plan never places two simultaneously live tensors on overlapping bytes
    assert generated.arena_bytes >= generated.plan.peak_live_bytes
