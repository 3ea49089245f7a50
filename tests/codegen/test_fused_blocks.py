"""Fused inverted-residual execution (FUSED_MBCONV, mbconv_fused.c) gives the bytes of the unfused graph:
randomised MBConv and depthwise-separable blocks (strides 1 / 2, kernels 3 / 5 / 7, residual on / off,
SAME or explicit-PAD padding, odd sizes, edge zero points), built for the host with the portable kernels
and with the DSP paths emulated, against the TFLM interpreter. And the planner's choices: fusion lowers
the arena where the block is the peak, runs stride-1 blocks in place, and never fuses for nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyhil.codegen.planner import plan_memory
from tinyhil.codegen.reader import read_tflite

from .tflite_builder import OpSpec, TensorSpec, add_options, build_graph, conv_options

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
scales = st.floats(2e-3, 0.2)


def _block(draw: st.DrawFn, expand: bool) -> bytes:
    """x -> [1x1 expand] -> [PAD] -> k x k depthwise -> 1x1 project [-> ADD x]."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    cin = draw(st.integers(1, 7))
    hidden = cin * draw(st.integers(2, 4)) if expand else cin
    k, stride = draw(st.sampled_from([3, 5, 7])), draw(st.sampled_from([1, 2]))
    explicit_pad = stride == 2 and draw(st.booleans())  # the exporter's symmetric PAD + VALID conv
    cout = cin if stride == 1 and draw(st.booleans()) else draw(st.integers(1, 9))
    residual = stride == 1 and cout == cin and draw(st.booleans())
    tensors: list[TensorSpec] = []
    ops: list[OpSpec] = []

    def activation(shape: tuple[int, ...]) -> int:
        tensors.append(TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),)))
        return len(tensors) - 1

    def conv(x: int, out_shape: tuple[int, ...], kernel: int, depthwise: bool, s: int, padding: str,
             act: str) -> int:
        cin_, cout_ = tensors[x].shape[3], out_shape[3]
        w_shape = (1, kernel, kernel, cout_) if depthwise else (cout_, kernel, kernel, cin_)
        w_scales = tuple(float(v) for v in rng.uniform(2e-3, 0.05, cout_))
        tensors.append(TensorSpec(w_shape, scale=w_scales, zero_point=(0,) * cout_, axis=3 if depthwise else 0,
                                  data=rng.integers(-127, 128, size=w_shape).astype(np.int8)))
        tensors.append(TensorSpec((cout_,), "int32", scale=tuple(tensors[x].scale[0] * v for v in w_scales),
                                  zero_point=(0,) * cout_, data=rng.integers(-3000, 3000, cout_).astype(np.int32)))
        y = activation(out_shape)
        ops.append(OpSpec("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, y - 2, y - 1], [y],
                          conv_options((s, s), (1, 1), padding, act, depth_multiplier=1 if depthwise else None)))
        return y

    acts = st.sampled_from(["NONE", "RELU", "RELU6"])
    x = current = activation((1, h, w, cin))
    if expand:
        current = conv(current, (1, h, w, hidden), 1, False, 1, "VALID", draw(acts))
    if explicit_pad:
        p = k // 2
        tensors.append(TensorSpec((4, 2), "int32", data=np.array([[0, 0], [p, p], [p, p], [0, 0]], np.int32)))
        padded = len(tensors)
        tensors.append(TensorSpec((1, h + 2 * p, w + 2 * p, hidden), scale=tensors[current].scale,
                                  zero_point=tensors[current].zero_point))
        ops.append(OpSpec("PAD", [current, padded - 1], [padded]))
        oh, ow = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
        current = conv(padded, (1, oh, ow, hidden), k, True, stride, "VALID", draw(acts))
    else:
        current = conv(current, (1, -(-h // stride), -(-w // stride), hidden), k, True, stride, "SAME", draw(acts))
    _, oh, ow, _ = tensors[current].shape
    current = conv(current, (1, oh, ow, cout), 1, False, 1, "VALID", draw(acts))
    if residual:
        out = activation((1, oh, ow, cout))
        operands = [x, current] if draw(st.booleans()) else [current, x]
        ops.append(OpSpec("ADD", operands, [out], add_options(draw(acts))))
        current = out
    return build_graph(tensors, ops, x, current)


@st.composite
def mbconv_blocks(draw: st.DrawFn) -> bytes:
    return _block(draw, expand=True)


@st.composite
def dws_blocks(draw: st.DrawFn) -> bytes:
    return _block(draw, expand=False)


def _check_fused(blob: bytes, check_fused_bit_exact) -> None:
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert [op.opcode for op in plan.graph.operators] == ["FUSED_MBCONV"]
    check_fused_bit_exact(blob)


@pytest.fixture(scope="module")
def check_fused_bit_exact(runtime_workdir):
    import hashlib

    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.reference import ReferenceInterpreter

    def check(blob: bytes) -> None:
        out_dir = runtime_workdir / ("fused-" + hashlib.sha256(blob).hexdigest()[:16])
        generated = generate(blob, out_dir, fusion="all")
        reference = ReferenceInterpreter(blob)
        rng = np.random.default_rng(0)
        inputs = [np.full(generated.input_shape, -128, np.int8), np.full(generated.input_shape, 127, np.int8)]
        inputs += [rng.integers(-128, 128, size=generated.input_shape, dtype=np.int8) for _ in range(3)]
        for dsp in (False, True):
            model = build_host_model(generated, out_dir / "build", kernels_cache=runtime_workdir / "kernels",
                                     dsp_emulated=dsp)
            for k, x in enumerate(inputs):
                ours, theirs = model.invoke(x), reference.invoke(x)
                assert np.array_equal(ours, theirs), (f"{'dsp' if dsp else 'portable'} input {k}: "
                                                      f"{int((ours != theirs).sum())} of {ours.size} differ")

    return check


@SETTINGS
@given(blob=mbconv_blocks())
def test_fused_mbconv_block_is_bit_exact_with_the_reference(blob: bytes, check_fused_bit_exact) -> None:
    _check_fused(blob, check_fused_bit_exact)


@SETTINGS
@given(blob=dws_blocks())
def test_fused_depthwise_separable_block_is_bit_exact_with_the_reference(blob: bytes, check_fused_bit_exact) -> None:
    _check_fused(blob, check_fused_bit_exact)
