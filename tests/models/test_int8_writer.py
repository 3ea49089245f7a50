"""tinyhil's int8 writer (ml/int8_graph.py + ml/tflite_flatbuffer.py) against TFLite's quantisation rules and
against TensorFlow's TFLiteConverter on nets drawn from the search space."""

import random

import numpy as np
import pytest
import torch

from tinyhil.codegen.reader import read_tflite
from tinyhil.codegen.reference import ReferenceInterpreter
from tinyhil.errors import TinyhilError
from tinyhil.ml.export import convert_int8
from tinyhil.ml.int8_graph import activation_quant, bias_fitting_weight_scale, bias_quant, weight_quant
from tinyhil.ml.model import build_torch
from tinyhil.spec.cost import spec_graph
from tinyhil.spec.space import ArchSpec, SearchSpace

from .random_nets import perturbed_net


def test_activation_parameters_follow_tflites_calibration_rule():
    q = activation_quant(0.0, 1.0)  # images in [0, 1]
    assert q.scale[0] == np.float32(1 / 255) and q.zero_point[0] == -128
    q = activation_quant(-1.0, 1.0)  # zero point -128 + 127.5, rounded half away from zero
    assert q.scale[0] == np.float32(2 / 255) and q.zero_point[0] == -1
    q = activation_quant(0.5, 2.0)  # the range is widened to hold 0
    assert q.scale[0] == np.float32(2 / 255) and q.zero_point[0] == -128
    q = activation_quant(-3.0, -1.0)
    assert q.scale[0] == np.float32(3 / 255) and q.zero_point[0] == 127
    q = activation_quant(0.0, 0.0)  # a tensor that was 0 on every calibration image: [-1e-6, 1e-6]
    assert q.scale[0] == np.float32(2e-6 / 255) and q.zero_point[0] in (-1, 0)
    q = activation_quant(0.0, 3e-7)  # a tiny ReLU6 output: its bound 6 / scale must fit int32 (TFLM checks it)
    assert q.scale[0] == np.float32(2e-6 / 255) and 6 / q.scale[0] < 2**31


def test_weights_are_symmetric_per_channel_in_the_narrow_range():
    weight = np.array([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.001]], np.float32)
    q, quant = weight_quant(weight, 0, np.zeros(3, np.float32), 0.01)
    assert q.dtype == np.int8 and q[0].tolist() == [127, -64, 32] and q[2].tolist() == [-127, 64, 0]
    assert q[1].tolist() == [0, 0, 0] and quant.scale[1] == 1.0  # an all-zero channel
    assert quant.scale[0] == np.float32(1 / 127) and quant.axis == 0 and not quant.zero_point.any()
    depthwise = np.random.default_rng(0).normal(size=(1, 3, 3, 5)).astype(np.float32)
    q, quant = weight_quant(depthwise, 3, np.zeros(5, np.float32), 0.01)
    assert len(quant.scale) == 5 and quant.axis == 3 and np.abs(q).max(axis=(0, 1, 2)).tolist() == [127] * 5


def test_a_bias_that_would_not_fit_int32_raises_its_channels_weight_scale():
    bias = np.array([0.5, 1e-6], np.float32)
    input_scale = 1e-9  # a nearly constant input
    raised = bias_fitting_weight_scale(bias, input_scale, np.array([1e-3, 1e-3]))
    assert raised[0] > 1e-3 and raised[1] == np.float32(1e-3)
    q, quant = bias_quant(bias, input_scale, raised)
    assert q.dtype == np.int32 and abs(int(q[0])) <= 2**31 - 1
    assert float(q[0]) * float(quant.scale[0]) == pytest.approx(0.5, rel=1e-6)


def _specs(count: int, seed: int) -> list[ArchSpec]:
    space = SearchSpace()
    rng = random.Random(seed)
    return [space.random_spec(rng) for _ in range(count)]


# (seed of the specs, input channels, classes): grey and colour inputs, 10 and 100 classes
CASES = [(3, 1, 10), (12, 3, 100), (14, 1, 10)]


@pytest.mark.parametrize("seed,channels,classes", CASES)
def test_the_writer_makes_the_converters_graph_and_nearly_its_outputs(seed, channels, classes):
    """Per random spec: the operators and output shapes of the cost model's graph (exactly, in order: what the
    search screens is what it measures), the converter's operators and shapes (as a multiset: the converter
    sometimes schedules a projection shortcut after its branch), every weight within one step of the converter's,
    and int8 outputs within a few steps of the converter's model on the same inputs."""
    torch.manual_seed(seed)
    for spec in _specs(3, seed):
        model = perturbed_net(spec, channels, classes)
        r = spec.resolution
        representative = torch.rand(50, channels, r, r)
        ours_blob = convert_int8(model, spec, representative)
        theirs_blob = convert_int8(model, spec, representative, writer="tensorflow")
        ours, theirs = read_tflite(ours_blob), read_tflite(theirs_blob)
        expected, _ = spec_graph(spec, (r, r, channels), classes)
        assert [(op.opcode, tuple(ours.tensor(op.outputs[0]).shape)) for op in ours.operators] == \
            [(op.opcode, tuple(expected.tensors[op.outputs[0]].shape)) for op in expected.operators]

        def signature(graph):
            return sorted((op.opcode, tuple(graph.tensor(op.outputs[0]).shape), sorted(op.options.items()))
                          for op in graph.operators)

        assert signature(ours) == signature(theirs)
        assert (ours.tensor(ours.inputs[0]).quant.zero_point, ours.tensor(ours.outputs[0]).dtype) == \
            (theirs.tensor(theirs.inputs[0]).quant.zero_point, "int8")
        # a weight of ours matches a converter weight of the same shape within one step (order may differ)
        theirs_weights = [theirs.tensor(op.inputs[1]).data for op in theirs.operators
                          if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
        for op in ours.operators:
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                w = ours.tensor(op.inputs[1]).data.astype(int)
                close = [np.abs(w - t.astype(int)).max() for t in theirs_weights if t.shape == w.shape]
                # where a dead (all-zero) SE tensor feeds the conv, the bias raises the weight scale: rare, and
                # then the weight may be far off the converter's; every other weight is within one step
                assert close and (min(close) <= 1 or _feeds_from_constant_zero(ours, op)), op.name
        a, b = ReferenceInterpreter(ours_blob), ReferenceInterpreter(theirs_blob)
        assert a.input_quant[1] == b.input_quant[1] and a.input_quant[0] == pytest.approx(b.input_quant[0])
        rng = np.random.default_rng(seed)
        for _ in range(8):
            x = rng.integers(-128, 128, size=(1, r, r, channels), dtype=np.int8)
            assert np.abs(a.invoke(x).astype(int) - b.invoke(x).astype(int)).max() <= 4


def _feeds_from_constant_zero(graph, op) -> bool:
    """The op's input was (nearly) 0 on every calibration image: its range was widened to [-1e-6, 1e-6], and the
    bias may have raised the weight scale (by a rule whose constant differs a little from the converter's)."""
    return float(graph.tensor(op.inputs[0]).quant.scale[0]) < 1e-7


def test_constant_buffers_start_on_16_byte_boundaries():
    """As TFLiteConverter lays them out: an int32 bias read in place is aligned."""
    import tflite

    spec = _specs(1, 5)[0]
    blob = convert_int8(perturbed_net(spec, 1, 10), spec, torch.rand(8, 1, spec.resolution, spec.resolution))
    model = tflite.Model.GetRootAsModel(blob, 0)
    base = np.frombuffer(blob, np.uint8).ctypes.data
    offsets = []
    for i in range(model.BuffersLength()):
        data = model.Buffers(i).DataAsNumpy()
        if not isinstance(data, int) and data.size:
            offsets.append(data.ctypes.data - base)
    assert offsets and all(offset % 16 == 0 for offset in offsets)
    assert blob[4:8] == b"TFL3"


def test_an_unknown_writer_or_a_converter_only_option_is_refused():
    spec = _specs(1, 5)[0]
    model = build_torch(spec, 1, 10).eval()
    images = torch.rand(4, 1, spec.resolution, spec.resolution)
    with pytest.raises(TinyhilError, match="int8 writer 'tflm' is unknown: choose one of tinyhil, tensorflow"):
        convert_int8(model, spec, images, writer="tflm")
    with pytest.raises(TinyhilError, match="via_saved_model is a TFLiteConverter path"):
        convert_int8(model, spec, images, via_saved_model=True)


def test_a_model_that_is_not_a_spec_network_gets_one_line():
    spec = _specs(1, 5)[0]
    with pytest.raises(TinyhilError, match="the int8 writer exports tinyhil's spec networks \\(TinyNet\\), not Sequential"):
        convert_int8(torch.nn.Sequential(torch.nn.Flatten()), spec, torch.rand(2, 1, 8, 8))
