"""Fused inverted-residual execution (FUSED_MBCONV, mbconv_fused.c) gives the bytes of the unfused graph:
randomised MBConv and depthwise-separable blocks (strides 1 / 2, kernels 3 / 5 / 7, residual on / off,
SAME or explicit-PAD padding, odd sizes, edge zero points), built for the host with the portable kernels
and with the DSP paths emulated, against the TFLM interpreter, a fused 3x3 depthwise on the int8 ring and on
the pair kernel's q15 ring. And the planner's choices: fusion lowers
the arena where the block is the peak, runs stride-1 blocks in place, and never fuses for nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyhil.codegen.planner import plan_memory
from tinyhil.codegen.reader import read_tflite

from .tflite_builder import (OpSpec, TensorSpec, add_options, build_graph, conv_options, leaky_relu_options, mean_options,
                             mul_options)

SETTINGS = settings(max_examples=14, deadline=None, derandomize=True,
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

    def activation_op(self, x: int, opcode: str | None) -> int:
        """An elementwise activation op after a conv (what the converter emits for LeakyReLU, hard-swish,
        sigmoid), or x itself for None."""
        if opcode is None:
            return x
        shape, in_scale = self.tensors[x].shape, self.tensors[x].scale[0]
        if opcode == "LOGISTIC":
            self.tensors.append(TensorSpec(shape, scale=(1.0 / 256,), zero_point=(-128,)))
        else:
            self.tensors.append(TensorSpec(shape, scale=(in_scale * self.draw(st.floats(0.3, 2.0)),),
                                           zero_point=(self.draw(zero_points),)))
        y = len(self.tensors) - 1
        options = leaky_relu_options(self.draw(st.sampled_from([0.01, 0.2]))) if opcode == "LEAKY_RELU" else None
        self.ops.append(OpSpec(opcode, [x], [y], options))
        return y

    def squeeze_excitation(self, x: int, squeezed: int) -> int:
        """MEAN -> 1x1 conv -> 1x1 conv -> LOGISTIC -> MUL(x, gate): what the converter emits for SE."""
        c = self.tensors[x].shape[3]
        self.tensors.append(TensorSpec((2,), "int32", data=np.array([1, 2], np.int32)))
        axes = len(self.tensors) - 1
        pooled = self.activation((1, 1, 1, c))
        self.ops.append(OpSpec("MEAN", [x, axes], [pooled], mean_options(True)))
        gate = self.activation_op(self.conv(self.conv(pooled, (1, 1, 1, squeezed), 1, False, 1, "VALID"),
                                            (1, 1, 1, c), 1, False, 1, "VALID"), "LOGISTIC")
        y = self.activation(self.tensors[x].shape)
        operands = [x, gate] if self.draw(st.booleans()) else [gate, x]
        self.ops.append(OpSpec("MUL", operands, [y], mul_options("NONE")))
        return y

    def block(self, x: int, expand: int, k: int, stride: int, cout: int | None, explicit_pad: bool, residual: bool,
              acts: tuple[str | None, str | None] = (None, None), se: int = 0) -> int:
        """x -> [1x1 expand [-> act]] -> [PAD] -> k x k depthwise [-> act] [-> squeeze-excitation to `se`
        channels] -> [1x1 project [-> ADD x]] (cout None: the block ends at the depthwise, as one feeding
        squeeze-excitation the fused block cannot take does)."""
        _, h, w, cin = self.tensors[x].shape
        hidden = cin * expand
        current = x
        if expand > 1:
            current = self.activation_op(self.conv(x, (1, h, w, hidden), 1, False, 1, "VALID"), acts[0])
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
        current = self.activation_op(current, acts[1])
        if cout is None:
            return current
        if se:
            current = self.squeeze_excitation(current, se)
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


ACTIVATIONS = st.sampled_from([None, None, "LEAKY_RELU", "HARD_SWISH", "LOGISTIC"])


def _block(draw: st.DrawFn, expand: bool) -> bytes:
    h, w, cin = draw(st.integers(1, 11)), draw(st.integers(1, 11)), draw(st.integers(1, 7))
    k, stride = draw(st.sampled_from([3, 5, 7])), draw(st.sampled_from([1, 2]))
    cout = cin if stride == 1 and draw(st.booleans()) else draw(st.integers(1, 9))
    if expand and draw(st.integers(0, 4)) == 0:
        cout = None  # ends at the depthwise (its output would feed squeeze-excitation)
    b = _Blocks(draw, (1, h, w, cin))
    out = b.block(b.input, draw(st.integers(2, 4)) if expand else 1, k, stride, cout,
                  explicit_pad=stride == 2 and draw(st.booleans()),
                  residual=stride == 1 and cout == cin and draw(st.booleans()),
                  acts=(draw(ACTIVATIONS) if expand else None, draw(ACTIVATIONS)),
                  se=draw(st.sampled_from([0, 0, 1, 3])))
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


def every_fused_pair_window_depthwise_on_the_q15_ring():
    """A context in which the planner puts every fused 3x3 / 5x5 depthwise on the pair kernel's q15 ring, whatever
    it does to the arena (its guard, planner._with_fused_q15_rings, off), so tests run that ring on every block."""
    from unittest import mock

    from tinyhil.codegen import planner
    from tinyhil.codegen.scratch import FUSED_Q15_RING_OPTION, depthwise_pairs_shape

    def every_one(graph, plan, chosen, cascades):
        eligible = {c.depthwise for c in chosen if depthwise_pairs_shape(graph, graph.operators[c.depthwise])}
        return planner._build(planner._with_option(graph, eligible, FUSED_Q15_RING_OPTION), chosen, cascades)

    return mock.patch.object(planner, "_with_fused_q15_rings", every_one)


@pytest.fixture(scope="module")
def check_fused_bit_exact(runtime_workdir):
    import hashlib

    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.codegen.reference import ReferenceInterpreter

    def check_ring(blob: bytes, out_dir) -> None:
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
                assert np.array_equal(ours, theirs), (f"{out_dir.name} {'dsp' if dsp else 'portable'} input {k}: "
                                                      f"{int((ours != theirs).sum())} of {ours.size} differ")

    def check(blob: bytes) -> None:
        """As planned (a fused 3x3 depthwise on the q15 ring where that keeps the arena), and with every fused
        3x3 depthwise on the q15 ring (the planner's arena guard off), so both rings run on every example."""
        out_dir = runtime_workdir / ("fused-" + hashlib.sha256(blob).hexdigest()[:16])
        check_ring(blob, out_dir)
        with every_fused_pair_window_depthwise_on_the_q15_ring():
            check_ring(blob, out_dir.with_name(out_dir.name + "-q15"))

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
def strip_blocks(draw: st.DrawFn) -> bytes:
    """A 3x3 stride-1 MBConv block whose int8 ring runs the pair rows on q15 strips (16-18 columns, 120-138
    expanded channels: a strip of 4 channels fits in the projection's q15 bytes), channels not always a multiple
    of 4."""
    h, w, cin = draw(st.integers(1, 3)), draw(st.integers(16, 18)), draw(st.integers(20, 23))
    cout = cin if draw(st.booleans()) else draw(st.integers(1, 9))
    b = _Blocks(draw, (1, h, w, cin))
    out = b.block(b.input, 6, 3, 1, cout, explicit_pad=False, residual=cout == cin and draw(st.booleans()),
                  acts=(draw(ACTIVATIONS), draw(ACTIVATIONS)))
    return b.model(out)


@st.composite
def strip_block_nets(draw: st.DrawFn) -> bytes:
    """Three 3x3 stride-1 MBConv blocks on q15 strips of their int8 rings (120, 120 and 126 expanded channels:
    strips of 4), the first with a residual."""
    b = _Blocks(draw, (1, 4, 16, 20))
    x = b.block(b.input, 6, 3, 1, 20, explicit_pad=False, residual=True, acts=("HARD_SWISH", None))
    x = b.block(x, 6, 3, 1, 21, explicit_pad=False, residual=False, acts=(None, "LEAKY_RELU"))
    x = b.block(x, 6, 3, 1, 8, explicit_pad=False, residual=False, acts=(None, None))
    return b.model(x)


def strip_channels_of(plan) -> list[int]:
    from tinyhil.codegen.scratch import mbconv_scratch

    return [mbconv_scratch(plan.graph, op).strip_channels for op in plan.graph.operators]


@SETTINGS
@given(blob=strip_blocks())
def test_fused_depthwise_on_q15_strips_of_its_int8_ring_is_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert [channels > 0 for channels in strip_channels_of(plan)] == [True]
    check_fused_bit_exact(blob)


@settings(max_examples=2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=strip_block_nets())
def test_three_blocks_on_q15_strips_are_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    assert all(channels > 0 for channels in strip_channels_of(plan_memory(read_tflite(blob), fusion="all")))
    check_fused_bit_exact(blob)


@st.composite
def four_block_nets(draw: st.DrawFn) -> bytes:
    """On an odd-sized input: an MBConv stride-1 residual block (k3, LeakyReLU after the expansion), an
    MBConv stride-2 block with the exporter's PAD (k5, hard-swish after the depthwise), a depthwise-
    separable residual block (k7, sigmoid after the depthwise) and an MBConv block that ends at its
    depthwise (as one feeding squeeze-excitation does): every fused path in one small model."""
    b = _Blocks(draw, (1, 13, 11, 4))
    x = b.block(b.input, 3, 3, 1, 4, explicit_pad=False, residual=True, acts=("LEAKY_RELU", None))
    x = b.block(x, 2, 5, 2, 6, explicit_pad=True, residual=False, acts=(None, "HARD_SWISH"))
    x = b.block(x, 1, 7, 1, 6, explicit_pad=False, residual=True, acts=(None, "LOGISTIC"))
    x = b.block(x, 2, 3, 1, None, explicit_pad=False, residual=False, acts=("LEAKY_RELU", None))
    return b.model(x)


@st.composite
def k5_block_nets(draw: st.DrawFn) -> bytes:
    """Two MBConv blocks with 5x5 depthwise layers: stride 1 with a residual and hard-swish (the unclamped loop
    after a table), then stride 2 with the exporter's PAD and ReLU6 (clamped where its bounds lie inside int8)."""
    b = _Blocks(draw, (1, 11, 9, 4))
    x = b.block(b.input, 3, 5, 1, 4, explicit_pad=False, residual=True, acts=(None, "HARD_SWISH"))
    x = b.block(x, 2, 5, 2, 6, explicit_pad=True, residual=False, acts=("LEAKY_RELU", None))
    return b.model(x)


@st.composite
def se_block_nets(draw: st.DrawFn) -> bytes:
    """Two MBConv blocks with squeeze-excitation, each fused in two passes: stride 1 with a residual (in
    place), then stride 2 with the exporter's PAD and LeakyReLU."""
    b = _Blocks(draw, (1, 9, 7, 4))
    x = b.block(b.input, 3, 3, 1, 4, explicit_pad=False, residual=True, acts=(None, "HARD_SWISH"), se=2)
    x = b.block(x, 2, 5, 2, 8, explicit_pad=True, residual=False, acts=("LEAKY_RELU", "LEAKY_RELU"), se=3)
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


def test_a_fused_depthwise_takes_the_q15_ring_only_where_that_keeps_the_arena() -> None:
    """Fusion auto on a MobileNetV2-like shape graph: the blocks away from the peak run their 3x3 depthwise on the
    pair kernel's q15 ring (twice the int8 ring's bytes), the one at the peak keeps the int8 ring, and the arena
    is the one every fused depthwise on the int8 ring gives (the fusion search's), not the larger all-q15 one."""
    from unittest import mock

    from tinyhil.codegen import planner
    from tinyhil.codegen.scratch import FUSED_Q15_RING_OPTION

    g = _ShapeGraph((1, 32, 32, 16))
    x = 0
    for cin, cout, stride in ((16, 16, 1), (16, 24, 2), (24, 24, 1), (24, 32, 2)):
        p = g.conv(g.conv(g.conv(x, cin * 6, 1), cin * 6, 3, stride, depthwise=True), cout, 1)
        x = g.op("ADD", (x, p), g.tensors[p].shape, fused_activation="NONE") if cin == cout and stride == 1 else p
    graph = g.graph(x)
    plan = plan_memory(graph, fusion="auto")
    fused = [op for op in plan.graph.operators if op.opcode == "FUSED_MBCONV"]
    on_q15 = [bool(op.options["depthwise"].options.get(FUSED_Q15_RING_OPTION)) for op in fused]
    assert True in on_q15 and False in on_q15, on_q15
    with mock.patch.object(planner, "_with_fused_q15_rings", lambda graph, plan, chosen, cascades: plan):
        int8_rings = plan_memory(graph, fusion="auto")
    assert plan.arena_bytes == int8_rings.arena_bytes
    assert plan.origin == int8_rings.origin  # the same blocks fused
    with every_fused_pair_window_depthwise_on_the_q15_ring():
        assert plan_memory(graph, fusion="auto").arena_bytes > plan.arena_bytes
    _no_two_live_tensors_overlap(plan)


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
@given(blob=four_block_nets())
def test_four_fused_blocks_in_a_row_are_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    """Fusion "all": blocks 1 and 2 run as one cascade (block 1 makes its rows as block 2 needs them), as do
    blocks 3 and 4 (block 3 has a residual, so it can feed a cascade but not be fed by one)."""
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert [op.opcode for op in plan.graph.operators] == ["FUSED_MBCONV"] * 2
    assert list(plan.modes.values()) == ["fused band, cascade"] * 2
    _no_two_live_tensors_overlap(plan)
    check_fused_bit_exact(blob)


@st.composite
def se_cascade_nets(draw: st.DrawFn) -> bytes:
    """A depthwise-separable stride-2 block cascaded into an MBConv block with squeeze-excitation: the SE's
    first pass runs the first block too, and the second pass runs both again."""
    b = _Blocks(draw, (1, 11, 9, 3))
    x = b.block(b.input, 1, 3, 2, 6, explicit_pad=True, residual=False)
    x = b.block(x, 2, 5, 1, 5, explicit_pad=False, residual=False, acts=("LEAKY_RELU", None), se=2)
    return b.model(x)


@settings(max_examples=2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=se_cascade_nets())
def test_a_cascade_ending_in_squeeze_excitation_is_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert list(plan.modes.values()) == ["fused band, cascade"]
    assert plan.graph.operators[0].options["se_mul"] is not None
    check_fused_bit_exact(blob)


def test_squeeze_excitation_recompute_stays_within_its_mac_budget() -> None:
    """auto never picks a plan whose two-pass squeeze-excitation recomputes more than RECOMPUTE_MAC_BUDGET."""
    from tinyhil.codegen.planner import RECOMPUTE_MAC_BUDGET, _graph_macs, recompute_macs

    g = _ShapeGraph((1, 64, 64, 3))
    x = g.conv(g.conv(0, 16, 3, 2, depthwise=False), 64, 1)  # 32x32x64
    d = g.conv(g.conv(x, 384, 1), 384, 3, depthwise=True)     # a wide expansion at 32x32: the peak
    c = g.tensors[d].shape[3]
    m = g.op("MEAN", (d, g.const((2,))), (1, 1, 1, c), keep_dims=True)
    gate = g.op("LOGISTIC", (g.conv(g.conv(m, 8, 1), c, 1),), (1, 1, 1, c))
    scaled = g.op("MUL", (d, gate), g.tensors[d].shape, fused_activation="NONE")
    graph = g.graph(g.conv(scaled, 32, 1))
    two_pass = plan_memory(graph, fusion="all")
    assert two_pass.arena_bytes < two_pass.unfused_arena_bytes / 2  # it would lower the peak a lot...
    assert recompute_macs(two_pass) > RECOMPUTE_MAC_BUDGET * _graph_macs(graph)  # ...for too many MACs
    auto = plan_memory(graph, fusion="auto")
    assert recompute_macs(auto) == 0 and not any("two passes" in mode for mode in auto.modes.values())


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=se_block_nets())
def test_squeeze_excitation_blocks_fused_in_two_passes_are_bit_exact(blob: bytes, check_fused_bit_exact) -> None:
    plan = plan_memory(read_tflite(blob), fusion="all")
    assert list(plan.modes.values()) == ["fused band, SE in two passes, in place", "fused band, SE in two passes"]
    check_fused_bit_exact(blob)


@settings(max_examples=1, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=four_block_nets())
def test_codegen_command_prints_each_blocks_mode_bytes_and_the_peak(blob: bytes, tmp_path_factory) -> None:
    from click.testing import CliRunner

    from tinyhil.cli import cli

    tmp = tmp_path_factory.mktemp("cli")
    model = tmp / "blocks.tflite"
    model.write_bytes(blob)
    for fusion, mode in (("all", "fused band, cascade"), ("off", "in place")):
        result = CliRunner().invoke(cli, ["codegen", str(model), "-o", str(tmp / fusion), "--fusion", fusion])
        assert result.exit_code == 0, result.output
        assert mode in result.output and "<- peak" in result.output
        assert f"fusion {fusion}" in result.output and "with every block plain" in result.output
        if fusion == "all":  # the ops each cascade runs, '|' between its blocks
            assert "runs CONV_2D -> DEPTHWISE_CONV_2D -> CONV_2D -> ADD | CONV_2D" in result.output
