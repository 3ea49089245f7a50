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


class _Blocks:
    """A small int8 graph built block by block with random weights and quantisation."""

    def __init__(self, draw: st.DrawFn, shape: tuple[int, int, int, int]):
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**31)))
        self.tensors: list[TensorSpec] = []
        self.ops: list[OpSpec] = []
        self.input = self.activation(shape)

    def activation(self, shape: tuple[int, ...]) -> int:
        self.tensors.append(TensorSpec(shape, scale=(self.draw(scales),), zero_point=(self.draw(zero_points),)))
        return len(self.tensors) - 1

    def conv(self, x: int, out_shape: tuple[int, ...], kernel: int, depthwise: bool, s: int, padding: str) -> int:
        cin_, cout_ = self.tensors[x].shape[3], out_shape[3]
        w_shape = (1, kernel, kernel, cout_) if depthwise else (cout_, kernel, kernel, cin_)
        w_scales = tuple(float(v) for v in self.rng.uniform(2e-3, 0.05, cout_))
        self.tensors.append(TensorSpec(w_shape, scale=w_scales, zero_point=(0,) * cout_, axis=3 if depthwise else 0,
                                       data=self.rng.integers(-127, 128, size=w_shape).astype(np.int8)))
        self.tensors.append(TensorSpec((cout_,), "int32", scale=tuple(self.tensors[x].scale[0] * v for v in w_scales),
                                       zero_point=(0,) * cout_,
                                       data=self.rng.integers(-3000, 3000, cout_).astype(np.int32)))
        y = self.activation(out_shape)
        act = self.draw(st.sampled_from(["NONE", "RELU", "RELU6"]))
        self.ops.append(OpSpec("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, y - 2, y - 1], [y],
                               conv_options((s, s), (1, 1), padding, act, depth_multiplier=1 if depthwise else None)))
        return y

    def block(self, x: int, expand: int, k: int, stride: int, cout: int, explicit_pad: bool, residual: bool) -> int:
        """x -> [1x1 expand] -> [PAD] -> k x k depthwise -> 1x1 project [-> ADD x]."""
        _, h, w, cin = self.tensors[x].shape
        hidden = cin * expand
        current = self.conv(x, (1, h, w, hidden), 1, False, 1, "VALID") if expand > 1 else x
        if explicit_pad:  # the exporter's symmetric PAD + VALID conv
            p = k // 2
            self.tensors.append(TensorSpec((4, 2), "int32", data=np.array([[0, 0], [p, p], [p, p], [0, 0]], np.int32)))
            padded = len(self.tensors)
            self.tensors.append(TensorSpec((1, h + 2 * p, w + 2 * p, hidden), scale=self.tensors[current].scale,
                                           zero_point=self.tensors[current].zero_point))
            self.ops.append(OpSpec("PAD", [current, padded - 1], [padded]))
            oh, ow = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
            current = self.conv(padded, (1, oh, ow, hidden), k, True, stride, "VALID")
        else:
            current = self.conv(current, (1, -(-h // stride), -(-w // stride), hidden), k, True, stride, "SAME")
        _, oh, ow, _ = self.tensors[current].shape
        current = self.conv(current, (1, oh, ow, cout), 1, False, 1, "VALID")
        if residual:
            out = self.activation((1, oh, ow, cout))
            operands = [x, current] if self.draw(st.booleans()) else [current, x]
            self.ops.append(OpSpec("ADD", operands, [out], add_options(self.draw(st.sampled_from(["NONE", "RELU6"])))))
            current = out
        return current

    def model(self, output: int) -> bytes:
        return build_graph(self.tensors, self.ops, self.input, output)


def _block(draw: st.DrawFn, expand: bool) -> bytes:
    h, w, cin = draw(st.integers(1, 11)), draw(st.integers(1, 11)), draw(st.integers(1, 7))
    k, stride = draw(st.sampled_from([3, 5, 7])), draw(st.sampled_from([1, 2]))
    cout = cin if stride == 1 and draw(st.booleans()) else draw(st.integers(1, 9))
    b = _Blocks(draw, (1, h, w, cin))
    out = b.block(b.input, draw(st.integers(2, 4)) if expand else 1, k, stride, cout,
                  explicit_pad=stride == 2 and draw(st.booleans()),
                  residual=stride == 1 and cout == cin and draw(st.booleans()))
    return b.model(out)


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


@st.composite
def three_block_nets(draw: st.DrawFn) -> bytes:
    """An MBConv stride-1 residual block (k3), an MBConv stride-2 block with the exporter's PAD (k5) and a
    depthwise-separable block (k7) on an odd-sized input: every fused path in one small model."""
    b = _Blocks(draw, (1, 13, 11, 4))
    x = b.block(b.input, 3, 3, 1, 4, explicit_pad=False, residual=True)
    x = b.block(x, 2, 5, 2, 6, explicit_pad=True, residual=False)
    x = b.block(x, 1, 7, 1, 6, explicit_pad=False, residual=True)
    return b.model(x)


def _no_two_live_tensors_overlap(plan) -> None:
    graph = plan.graph
    ids = sorted({t for op in graph.operators for t in op.inputs + op.outputs
                  if t >= 0 and not graph.tensors[t].is_constant})
    for a in ids:
        for b in ids:
            if a >= b or plan.aliases.get(a, a) == plan.aliases.get(b, b):
                continue
            (fa, la), (fb, lb) = plan.lifetimes[a], plan.lifetimes[b]
            if fa <= lb and fb <= la:
                ra, rb = plan.offsets[a], plan.offsets[b]
                assert ra + graph.tensors[a].nbytes <= rb or rb + graph.tensors[b].nbytes <= ra, (a, b)
    for op, offset in plan.scratch_offsets.items():  # a fused block's ring never lands on a tensor alive then
        for t in ids:
            first, last = plan.lifetimes[t]
            if first <= op <= last:
                o = plan.offsets[t]
                assert offset + plan.scratch_sizes[op] <= o or o + graph.tensors[t].nbytes <= offset, (op, t)


class _ShapeGraph:
    """A shape-only graph (as the cost model builds): constants are zeros, no quantisation."""

    CONV = {"stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "padding": "SAME",
            "fused_activation": "RELU6"}

    def __init__(self, shape: tuple[int, ...]):
        from tinyhil.codegen.ir import Tensor

        self.tensors = [Tensor(0, "x", shape, "int8")]
        self.ops: list = []

    def const(self, shape: tuple[int, ...]) -> int:
        from tinyhil.codegen.ir import Tensor

        self.tensors.append(Tensor(len(self.tensors), f"w{len(self.tensors)}", shape, "int8",
                                   data=np.zeros(shape, np.int8)))
        return len(self.tensors) - 1

    def op(self, opcode: str, inputs: tuple[int, ...], shape: tuple[int, ...], **options) -> int:
        from tinyhil.codegen.ir import Operator, Tensor

        self.tensors.append(Tensor(len(self.tensors), f"t{len(self.tensors)}", shape, "int8"))
        self.ops.append(Operator(len(self.ops), opcode, tuple(inputs), (len(self.tensors) - 1,), options))
        return len(self.tensors) - 1

    def conv(self, x: int, cout: int, k: int, stride: int = 1, depthwise: bool = False) -> int:
        _, h, w, cin = self.tensors[x].shape
        weights = self.const((1, k, k, cin) if depthwise else (cout, k, k, cin))
        options = {**self.CONV, "stride_h": stride, "stride_w": stride}
        if depthwise:
            options["depth_multiplier"] = 1
        return self.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", (x, weights, self.const((cout,))),
                       (1, -(-h // stride), -(-w // stride), cout), **options)

    def graph(self, output: int):
        from tinyhil.codegen.ir import Graph

        return Graph(self.tensors, self.ops, (0,), (output,))


def test_fusion_lowers_the_planned_arena_of_a_mobilenetv2_like_net_and_keeps_it_sound() -> None:
    g = _ShapeGraph((1, 48, 48, 3))
    x = g.conv(0, 8, 3, stride=2)
    for cin, cout, stride in ((8, 8, 1), (8, 16, 2), (16, 16, 1)):
        p = g.conv(g.conv(g.conv(x, cin * 6, 1), cin * 6, 3, stride, depthwise=True), cout, 1)
        x = g.op("ADD", (x, p), g.tensors[p].shape, fused_activation="NONE") if cin == cout and stride == 1 else p
    graph = g.graph(x)
    plain, auto = plan_memory(graph, fusion="off"), plan_memory(graph, fusion="auto")
    assert auto.unfused_arena_bytes == plain.arena_bytes
    assert auto.arena_bytes < 0.5 * plain.arena_bytes, (auto.arena_bytes, plain.arena_bytes)
    assert "fused band, in place" in auto.modes.values()  # a stride-1 residual block writes over its input
    assert {auto.modes[op.index] for op in auto.graph.operators if op.opcode == "FUSED_MBCONV"} <= {
        "fused band", "fused band, in place"}
    _no_two_live_tensors_overlap(auto)
    _no_two_live_tensors_overlap(plan_memory(graph, fusion="all"))


def test_fusion_stays_off_where_it_would_not_lower_the_peak() -> None:
    """A depthwise-separable block whose projection widens 8 -> 32 channels: its input and output are
    alive together fused or not, so fusing would only add the ring; the planner leaves it plain."""
    g = _ShapeGraph((1, 32, 32, 3))
    x = g.conv(g.conv(g.conv(0, 8, 3), 8, 3, depthwise=True), 32, 1)
    graph = g.graph(x)
    plan = plan_memory(graph, fusion="auto")
    assert "FUSED_MBCONV" not in {op.opcode for op in plan.graph.operators}
    assert plan.arena_bytes == plan.unfused_arena_bytes == plan_memory(graph, fusion="off").arena_bytes
    assert plan_memory(graph, fusion="all").arena_bytes > plan.arena_bytes  # what fusing it would have cost


def test_unknown_fusion_mode_is_a_clear_error() -> None:
    from tinyhil.errors import ModelError

    with pytest.raises(ModelError, match="unknown fusion mode 'fast'"):
        plan_memory(_ShapeGraph((1, 4, 4, 1)).graph(0), fusion="fast")


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=three_block_nets())
def test_three_fused_blocks_in_a_row_are_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert [op.opcode for op in plan.graph.operators] == ["FUSED_MBCONV"] * 3
    _no_two_live_tensors_overlap(plan)
    check_fused_bit_exact(blob)
