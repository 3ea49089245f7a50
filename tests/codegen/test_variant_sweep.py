"""The variants of the supported ops that converter-made and public models have (dilations, odd strides and
kernels, grouped convs, odd channel counts, batches, keep_num_dims, per-tensor weights, all-zero filter channels,
reductions over one axis, softmax shapes and betas, an op reading its own input twice, an output another op also
reads) are bit-exact with the TFLM interpreter on the host in both kernel builds, or refused with one line that
names the variant and what to do. Hand-made with tflite_builder (fast); the converter's own forms of the variants
it writes differently (grouped Conv2D, Dense on a sequence) once through TFLiteConverter."""

from __future__ import annotations

import numpy as np
import pytest

from .tflite_builder import (OpSpec, TensorSpec, add_options, build_graph, build_model, conv_options, mean_options,
                             mul_options, pool_options, softmax_options, sub_options)

IN_Q = dict(scale=(0.02,), zero_point=(-3,))
OUT_Q = dict(scale=(0.1,), zero_point=(2,))
CONVERTER_ZERO_CHANNEL_SCALE = 3.937008052901092e-09  # what TFLiteConverter writes for an all-zero filter channel


def _out(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    effective = (k - 1) * dilation + 1
    return -(-size // stride) if padding == "SAME" else (size - effective) // stride + 1


def _weights(rng: np.random.Generator, shape: tuple[int, ...], channels: int, axis: int, per_tensor: bool,
             scales: tuple[float, ...] | None) -> TensorSpec:
    if scales is None:
        scales = (0.01,) if per_tensor else tuple(float(s) for s in rng.uniform(1e-3, 0.05, channels))
    data = rng.integers(-127, 128, size=shape).astype(np.int8)
    for c, s in enumerate(scales if len(scales) > 1 else ()):
        if s < 1e-6:  # an all-zero channel, as the converter writes it
            np.moveaxis(data, axis, 0)[c] = 0
    return TensorSpec(shape, scale=scales, zero_point=(0,) * len(scales), axis=axis, data=data)


def _bias(rng: np.random.Generator, channels: int, weights: TensorSpec) -> TensorSpec:
    scale = tuple(IN_Q["scale"][0] * s for s in weights.scale)
    return TensorSpec((channels,), "int32", scale=scale, zero_point=(0,) * len(scale),
                      data=rng.integers(-5000, 5000, size=channels).astype(np.int32))


def conv(h: int, w: int, cin: int, cout: int, k: tuple[int, int] = (3, 3), stride: tuple[int, int] = (1, 1),
         dilation: tuple[int, int] = (1, 1), padding: str = "SAME", groups: int = 1, bias: bool = True,
         per_tensor: bool = False, scales: tuple[float, ...] | None = None, batch: int = 1,
         activation: str = "NONE", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    oh, ow = _out(h, k[0], stride[0], dilation[0], padding), _out(w, k[1], stride[1], dilation[1], padding)
    weights = _weights(rng, (cout, *k, cin // groups), cout, 0, per_tensor, scales)
    tensors = [TensorSpec((batch, h, w, cin), **IN_Q), weights, _bias(rng, cout, weights),
               TensorSpec((batch, oh, ow, cout), **OUT_Q)]
    return build_model("CONV_2D", tensors, [0, 1, 2] if bias else [0, 1], [3],
                       conv_options(stride, dilation, padding, activation))


def depthwise(h: int, w: int, c: int, k: tuple[int, int] = (3, 3), stride: tuple[int, int] = (1, 1),
              dilation: tuple[int, int] = (1, 1), padding: str = "SAME", multiplier: int = 1, bias: bool = True,
              per_tensor: bool = False, scales: tuple[float, ...] | None = None, batch: int = 1,
              activation: str = "NONE", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    oc = c * multiplier
    oh, ow = _out(h, k[0], stride[0], dilation[0], padding), _out(w, k[1], stride[1], dilation[1], padding)
    weights = _weights(rng, (1, *k, oc), oc, 3, per_tensor, scales)
    tensors = [TensorSpec((batch, h, w, c), **IN_Q), weights, _bias(rng, oc, weights),
               TensorSpec((batch, oh, ow, oc), **OUT_Q)]
    return build_model("DEPTHWISE_CONV_2D", tensors, [0, 1, 2] if bias else [0, 1], [3],
                       conv_options(stride, dilation, padding, activation, depth_multiplier=multiplier))


def fully_connected(in_shape: tuple[int, ...], n_out: int, keep_num_dims: bool = False, bias: bool = True,
                    per_tensor: bool = True, scales: tuple[float, ...] | None = None, seed: int = 0) -> bytes:
    import tflite

    rng = np.random.default_rng(seed)
    n_in = in_shape[-1]
    out_shape = (*in_shape[:-1], n_out) if keep_num_dims else (int(np.prod(in_shape)) // n_in, n_out)
    weights = _weights(rng, (n_out, n_in), n_out, 0, per_tensor, scales)
    tensors = [TensorSpec(in_shape, **IN_Q), weights, _bias(rng, n_out, weights), TensorSpec(out_shape, **OUT_Q)]

    def options(b):
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddKeepNumDims(b, keep_num_dims)
        return tflite.BuiltinOptions.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)

    return build_model("FULLY_CONNECTED", tensors, [0, 1, 2] if bias else [0, 1, -1], [3], options)


def pool(opcode: str, h: int, w: int, c: int, filt: tuple[int, int], stride: tuple[int, int], padding: str,
         batch: int = 1) -> bytes:
    shape = (batch, _out(h, filt[0], stride[0], 1, padding), _out(w, filt[1], stride[1], 1, padding), c)
    tensors = [TensorSpec((batch, h, w, c), **IN_Q), TensorSpec(shape, **IN_Q)]
    return build_model(opcode, tensors, [0], [1], pool_options(filt, stride, padding, "NONE"))


def mean(shape: tuple[int, ...], axes: tuple[int, ...], keep_dims: bool) -> bytes:
    out = tuple(1 if a in axes else d for a, d in enumerate(shape)) if keep_dims else tuple(
        d for a, d in enumerate(shape) if a not in axes)
    tensors = [TensorSpec(shape, **IN_Q), TensorSpec((len(axes),), "int32", data=np.array(axes, np.int32)),
               TensorSpec(out, **OUT_Q)]
    return build_model("MEAN", tensors, [0, 1], [2], mean_options(keep_dims))


def softmax(shape: tuple[int, ...], beta: float) -> bytes:
    tensors = [TensorSpec(shape, scale=(0.1,), zero_point=(4,)),
               TensorSpec(shape, scale=(1 / 256,), zero_point=(-128,))]
    return build_model("SOFTMAX", tensors, [0], [1], softmax_options(beta))


def same_operand_twice(opcode: str) -> bytes:
    """x + x, x * x, x - x: both operands the graph input."""
    options = {"ADD": add_options, "MUL": mul_options, "SUB": sub_options}[opcode]("NONE")
    tensors = [TensorSpec((1, 4, 5, 3), scale=(0.03,), zero_point=(5,)),
               TensorSpec((1, 4, 5, 3), scale=(0.07,), zero_point=(-2,))]
    return build_model(opcode, tensors, [0, 0], [1], options)


def output_also_read(reader: str) -> bytes:
    """A 3x3 conv whose output is the graph's, also read by a later op (`reader`); with "depthwise+add" a
    depthwise (a candidate to run in place over a dying input) and an ADD of it and the output both read it."""
    rng = np.random.default_rng(4)
    weights = _weights(rng, (4, 3, 3, 4), 4, 0, False, None)
    dw = _weights(rng, (1, 3, 3, 4), 4, 3, False, None)
    dw_bias = TensorSpec((4,), "int32", scale=tuple(0.1 * s for s in dw.scale), zero_point=(0,) * 4,
                         data=rng.integers(-500, 500, 4).astype(np.int32))
    tensors = [TensorSpec((1, 6, 6, 4), **IN_Q), weights, _bias(rng, 4, weights), TensorSpec((1, 6, 6, 4), **OUT_Q),
               dw, dw_bias, TensorSpec((1, 6, 6, 4), scale=(0.06,), zero_point=(1,)),
               TensorSpec((1, 6, 6, 4), scale=(0.08,), zero_point=(0,)), TensorSpec((1, 4, 4, 4), **OUT_Q)]
    ops = [OpSpec("CONV_2D", [0, 1, 2], [3], conv_options((1, 1), (1, 1), "SAME", "NONE"))]
    if reader == "depthwise+add":
        ops += [OpSpec("DEPTHWISE_CONV_2D", [3, 4, 5], [6], conv_options((1, 1), (1, 1), "SAME", "NONE", 1)),
                OpSpec("ADD", [3, 6], [7], add_options("NONE"))]
    elif reader == "max pool":
        ops.append(OpSpec("MAX_POOL_2D", [3], [8], pool_options((3, 3), (1, 1), "VALID", "NONE")))
    else:  # "add to itself"
        ops.append(OpSpec("ADD", [3, 3], [7], add_options("NONE")))
    return build_graph(tensors, ops, 0, 3)


def _zero_channel(channels: int, scale: float) -> tuple[float, ...]:
    return tuple(scale if c == 1 else 0.004 + 0.002 * c for c in range(channels))


BUILT = {
    "conv dilation 2": lambda: conv(12, 11, 4, 6, dilation=(2, 2)),
    "conv dilation 3 valid": lambda: conv(13, 11, 3, 5, dilation=(3, 3), padding="VALID"),
    "conv dilation 2x3": lambda: conv(12, 12, 4, 6, dilation=(2, 3)),
    "conv stride 3": lambda: conv(13, 13, 3, 8, stride=(3, 3)),
    "conv stride 3 valid not dividing": lambda: conv(14, 10, 3, 8, stride=(3, 3), padding="VALID"),
    "conv 1x7": lambda: conv(9, 12, 4, 5, k=(1, 7)),
    "conv 7x1": lambda: conv(12, 9, 4, 5, k=(7, 1)),
    "conv 3x5": lambda: conv(10, 10, 3, 4, k=(3, 5)),
    "conv kernel larger than the input": lambda: conv(3, 3, 4, 4, k=(5, 5)),
    "conv kernel the input's size valid": lambda: conv(5, 5, 4, 4, k=(5, 5), padding="VALID"),
    "conv valid stride 2 not dividing": lambda: conv(11, 9, 3, 4, stride=(2, 2), padding="VALID"),
    "conv 4x4 same stride 2 odd size": lambda: conv(9, 8, 3, 4, k=(4, 4), stride=(2, 2)),
    "conv 1x1 stride 2": lambda: conv(9, 8, 8, 6, k=(1, 1), stride=(2, 2)),
    "conv 1x1 stride 2 odd size and channels": lambda: conv(7, 7, 5, 3, k=(1, 1), stride=(2, 2), padding="VALID"),
    **{f"conv {c} input channels": (lambda c=c: conv(9, 9, c, 4, seed=c)) for c in (1, 2, 3, 5, 7)},
    **{f"conv {c} output channels": (lambda c=c: conv(8, 8, 4, c, seed=c)) for c in (1, 3, 7)},
    "conv 512 output channels": lambda: conv(2, 2, 16, 512, k=(1, 1)),
    "conv 512 input channels": lambda: conv(3, 3, 512, 8),
    "conv batch 2": lambda: conv(6, 6, 3, 4, batch=2),
    "conv 1x1 batch 2": lambda: conv(5, 5, 4, 6, k=(1, 1), batch=2),
    "conv without bias": lambda: conv(8, 8, 3, 4, bias=False),
    "conv 1x1 without bias": lambda: conv(6, 6, 4, 4, k=(1, 1), bias=False),
    "conv per-tensor weights": lambda: conv(7, 7, 3, 5, per_tensor=True, activation="RELU"),
    "conv 1x1 per-tensor weights": lambda: conv(7, 7, 8, 6, k=(1, 1), per_tensor=True),
    "conv zero channel (converter's scale)": lambda: conv(7, 7, 3, 5, scales=_zero_channel(
        5, CONVERTER_ZERO_CHANNEL_SCALE)),
    "conv zero channel scale 0": lambda: conv(7, 7, 3, 5, scales=_zero_channel(5, 0.0)),
    "conv 1x1 zero channel scale 1e-30": lambda: conv(5, 5, 8, 5, k=(1, 1), scales=_zero_channel(5, 1e-30)),
    "grouped conv 2 groups": lambda: conv(8, 8, 8, 8, groups=2),
    "grouped conv 4 groups": lambda: conv(8, 8, 8, 12, groups=4),
    "grouped conv 4 groups 1x1": lambda: conv(6, 6, 16, 8, k=(1, 1), groups=4),
    "grouped conv 3 groups stride 2 relu6 per-tensor": lambda: conv(7, 7, 6, 9, stride=(2, 2), groups=3,
                                                                    per_tensor=True, activation="RELU6"),
    "grouped conv 2 groups batch 2 without bias": lambda: conv(6, 6, 4, 4, groups=2, batch=2, bias=False),
    "grouped conv filter depth 1": lambda: conv(8, 8, 8, 8, groups=8),
    "grouped conv filter depth 1 two filters per group": lambda: conv(7, 7, 6, 12, groups=6, activation="RELU"),
    "depthwise dilation 2": lambda: depthwise(10, 10, 8, dilation=(2, 2)),
    "depthwise dilation 2 5 channels": lambda: depthwise(10, 10, 5, dilation=(2, 2)),
    "depthwise stride 2 even": lambda: depthwise(10, 10, 8, stride=(2, 2)),
    "depthwise stride 2 odd": lambda: depthwise(11, 9, 8, stride=(2, 2)),
    "depthwise stride 2 odd valid": lambda: depthwise(11, 9, 8, stride=(2, 2), padding="VALID"),
    "depthwise multiplier 2": lambda: depthwise(8, 8, 4, multiplier=2),
    "depthwise multiplier 3 over 5 channels": lambda: depthwise(8, 8, 5, multiplier=3),
    "depthwise multiplier 2 stride 2 dilation 1": lambda: depthwise(9, 9, 3, stride=(2, 2), multiplier=2),
    "depthwise multiplier 2 dilation 2": lambda: depthwise(9, 9, 3, dilation=(2, 2), multiplier=2),
    "depthwise 1x1": lambda: depthwise(6, 6, 8, k=(1, 1)),
    "depthwise 1x1 stride 2": lambda: depthwise(7, 7, 6, k=(1, 1), stride=(2, 2), padding="VALID"),
    **{f"depthwise {c} channels": (lambda c=c: depthwise(8, 8, c, seed=c)) for c in (5, 6, 7)},
    "depthwise 5x5 stride 2 7 channels": lambda: depthwise(11, 10, 7, k=(5, 5), stride=(2, 2)),
    "depthwise kernel larger than the input": lambda: depthwise(3, 3, 8, k=(5, 5)),
    "depthwise without bias": lambda: depthwise(8, 8, 8, bias=False),
    "depthwise batch 2": lambda: depthwise(6, 6, 4, batch=2),
    "depthwise per-tensor weights": lambda: depthwise(7, 7, 8, per_tensor=True),
    "depthwise per-tensor weights 5 channels stride 2": lambda: depthwise(7, 7, 5, stride=(2, 2), per_tensor=True),
    "depthwise zero channel (converter's scale)": lambda: depthwise(8, 8, 8, scales=_zero_channel(
        8, CONVERTER_ZERO_CHANNEL_SCALE)),
    "depthwise zero channel scale 0": lambda: depthwise(7, 7, 4, scales=_zero_channel(4, 0.0)),
    "depthwise zero channel scale 1e-30 dilation 2": lambda: depthwise(9, 9, 8, dilation=(2, 2),
                                                                       scales=_zero_channel(8, 1e-30)),
    "fc keep_num_dims 3-D": lambda: fully_connected((1, 4, 7), 5, keep_num_dims=True),
    "fc keep_num_dims batch 2 of 3 rows": lambda: fully_connected((2, 3, 7), 5, keep_num_dims=True),
    "fc 3-D input flattened to rows": lambda: fully_connected((1, 4, 7), 5),
    "fc batch 2": lambda: fully_connected((2, 13), 5),
    "fc without bias": lambda: fully_connected((1, 12), 4, bias=False),
    "fc 7 inputs": lambda: fully_connected((1, 7), 4),
    "fc 13 inputs 1 output": lambda: fully_connected((1, 13), 1),
    "fc per-channel weights": lambda: fully_connected((1, 13), 5, per_tensor=False),
    "fc zero channel (converter's scale)": lambda: fully_connected(
        (1, 10), 5, per_tensor=False, scales=_zero_channel(5, CONVERTER_ZERO_CHANNEL_SCALE)),
    "fc zero channel scale 0": lambda: fully_connected((1, 10), 5, per_tensor=False, scales=_zero_channel(5, 0.0)),
    "max pool 2 over 7 valid": lambda: pool("MAX_POOL_2D", 7, 7, 4, (2, 2), (2, 2), "VALID"),
    "max pool 2 over 7 same": lambda: pool("MAX_POOL_2D", 7, 7, 4, (2, 2), (2, 2), "SAME"),
    "max pool 3 stride 2 valid": lambda: pool("MAX_POOL_2D", 8, 9, 4, (3, 3), (2, 2), "VALID"),
    "max pool batch 2": lambda: pool("MAX_POOL_2D", 6, 7, 4, (2, 2), (2, 2), "VALID", batch=2),
    "average pool 2 over 7x5 same": lambda: pool("AVERAGE_POOL_2D", 7, 5, 3, (2, 2), (2, 2), "SAME"),
    "average pool 3 stride 2 same": lambda: pool("AVERAGE_POOL_2D", 8, 9, 4, (3, 3), (2, 2), "SAME"),
    "average pool 2 stride 1": lambda: pool("AVERAGE_POOL_2D", 6, 6, 5, (2, 2), (1, 1), "VALID"),
    "average pool 3x2 stride 1x2": lambda: pool("AVERAGE_POOL_2D", 7, 8, 5, (3, 2), (1, 2), "SAME"),
    "average pool batch 2": lambda: pool("AVERAGE_POOL_2D", 6, 7, 4, (2, 2), (2, 2), "SAME", batch=2),
    "global average pool non-square": lambda: pool("AVERAGE_POOL_2D", 5, 9, 6, (5, 9), (1, 1), "VALID"),
    "mean over axis 1": lambda: mean((1, 6, 5, 4), (1,), False),
    "mean over axis 1 keepdims": lambda: mean((1, 6, 5, 4), (1,), True),
    "mean over axis 2": lambda: mean((1, 6, 5, 4), (2,), False),
    "mean over (1, 2)": lambda: mean((1, 6, 5, 4), (1, 2), False),
    "mean over (1, 2) keepdims non-square": lambda: mean((1, 5, 9, 6), (1, 2), True),
    "mean over (1, 2) batch 2": lambda: mean((2, 5, 6, 4), (1, 2), False),
    "mean over axis 1 of a sequence": lambda: mean((1, 7, 5), (1,), False),
    "mean over every axis but the batch": lambda: mean((1, 6, 5, 4), (1, 2, 3), False),
    "softmax (1, N) beta 0.5": lambda: softmax((1, 10), 0.5),
    "softmax (1, 1, 1, N) beta 0.5": lambda: softmax((1, 1, 1, 10), 0.5),
    "softmax (1, 3, N) beta 2": lambda: softmax((1, 3, 10), 2.0),
    "softmax (1, 2, 3, N)": lambda: softmax((1, 2, 3, 7), 1.0),
    "softmax (2, N)": lambda: softmax((2, 9), 1.0),
    "softmax beta 0.01": lambda: softmax((1, 10), 0.01),
    "softmax beta 30": lambda: softmax((1, 10), 30.0),
    "x + x": lambda: same_operand_twice("ADD"),
    "x * x": lambda: same_operand_twice("MUL"),
    "x - x": lambda: same_operand_twice("SUB"),
    "output also read by a depthwise and an add": lambda: output_also_read("depthwise+add"),
    "output also read by a max pool": lambda: output_also_read("max pool"),
    "output also added to itself": lambda: output_also_read("add to itself"),
}


@pytest.mark.parametrize("variant", list(BUILT))
def test_variant_matches_tflm_in_both_kernel_builds(check_bit_exact, variant: str) -> None:
    assert check_bit_exact(BUILT[variant](), n_random=2) == 4


def test_a_grouped_conv_runs_as_one_conv_per_group_and_filter_depth_1_as_a_depthwise() -> None:
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.codegen.rewrites import grouped_conv_as_groups

    original = read_tflite(conv(8, 8, 8, 12, groups=4))
    graph = grouped_conv_as_groups(original)
    assert [op.opcode for op in graph.operators] == ["SLICE", "CONV_2D"] * 4 + ["CONCATENATION"]
    convs = [op for op in graph.operators if op.opcode == "CONV_2D"]
    assert {graph.tensor(op.inputs[1]).shape for op in convs} == {(3, 3, 3, 2)}
    # group g: output channels 3g .. 3g + 2, their filters, biases and per-channel scales
    w, b = original.tensor(original.operators[0].inputs[1]), original.tensor(original.operators[0].inputs[2])
    for g, op in enumerate(convs):
        assert np.array_equal(graph.tensor(op.inputs[1]).data, w.data[3 * g:3 * g + 3])
        assert np.array_equal(graph.tensor(op.inputs[2]).data, b.data[3 * g:3 * g + 3])
        assert graph.tensor(op.inputs[1]).quant.scale == w.quant.scale[3 * g:3 * g + 3]
    depthwise_like = grouped_conv_as_groups(read_tflite(conv(7, 7, 6, 12, groups=6)))
    (op,) = depthwise_like.operators
    assert (op.opcode, op.options["depth_multiplier"]) == ("DEPTHWISE_CONV_2D", 2)
    assert depthwise_like.tensor(op.inputs[1]).quant.axis == 3


def test_a_plain_conv_is_left_alone_by_the_grouped_conv_rewrite() -> None:
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.codegen.rewrites import grouped_conv_as_groups

    graph = read_tflite(conv(7, 7, 6, 6))
    assert grouped_conv_as_groups(graph) is graph


def _bad_groups(depth: int, cout: int) -> bytes:
    rng = np.random.default_rng(0)
    weights = TensorSpec((cout, 3, 3, depth), scale=(0.01,), zero_point=(0,),
                         data=rng.integers(-127, 128, (cout, 3, 3, depth)).astype(np.int8))
    tensors = [TensorSpec((1, 7, 7, 6), **IN_Q), weights, TensorSpec((1, 7, 7, cout), **OUT_Q)]
    return build_model("CONV_2D", tensors, [0, 1], [2], conv_options((1, 1), (1, 1), "SAME", "NONE"))


@pytest.mark.parametrize("blob, message", [
    (lambda: _bad_groups(4, 6), "operator 0 (CONV_2D) is a grouped conv whose filter depth 4 does not divide the 6 "
                                "input channels: the model is corrupt; re-export it"),
    (lambda: _bad_groups(3, 5), "operator 0 (CONV_2D) is a grouped conv whose 2 groups (input channels / filter "
                                "depth) do not divide the 5 output channels: the model is corrupt; re-export it"),
    (lambda: mean((1, 6, 5, 4), (1, 3), False), "operator 0 (MEAN) reduces axes [1, 3]; supported: contiguous axes "
                                                "(e.g. [1, 2] of NHWC, the global pool): transpose the reduced axes "
                                                "next to each other before the reduction and re-export"),
], ids=["grouped conv, depth not dividing the input", "grouped conv, groups not dividing the output",
        "mean over axes 1 and 3"])
def test_unsupported_variant_is_refused_with_one_line_naming_it(tmp_path, blob, message: str) -> None:
    from tinyhil.codegen import generate
    from tinyhil.errors import UnsupportedOpError

    with pytest.raises(UnsupportedOpError) as error:
        generate(blob(), tmp_path)
    assert str(error.value) == message


def test_depthwise_with_its_bias_marked_omitted_runs_and_the_reference_refuses_it_instead_of_crashing(
        runtime_workdir, tmp_path) -> None:
    """TFLM segfaults loading a DEPTHWISE_CONV_2D whose bias input is -1; tinyhil runs it, bit-exact with TFLM on
    the same depthwise with two inputs (no bias either)."""
    import tflite

    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.codegen.reference import ReferenceInterpreter
    from tinyhil.errors import ModelError

    two_inputs = depthwise(7, 7, 8, bias=False)
    model = tflite.Model.GetRootAsModel(two_inputs, 0)
    assert model.Subgraphs(0).Operators(0).InputsLength() == 2
    rng = np.random.default_rng(0)
    weights = _weights(rng, (1, 3, 3, 8), 8, 3, False, None)
    omitted = build_model("DEPTHWISE_CONV_2D", [TensorSpec((1, 7, 7, 8), **IN_Q), weights, _bias(rng, 8, weights),
                                                TensorSpec((1, 7, 7, 8), **OUT_Q)], [0, 1, -1], [3],
                          conv_options((1, 1), (1, 1), "SAME", "NONE", depth_multiplier=1))
    with pytest.raises(ModelError, match=r"^operator 0 \(DEPTHWISE_CONV_2D\) marks its bias omitted \(input -1\), "
                                         r"which crashes the TFLM interpreter: give it an all-zero int32 bias"):
        ReferenceInterpreter(omitted)
    reference = ReferenceInterpreter(two_inputs)
    generated = generate(omitted, tmp_path)
    x = np.random.default_rng(1).integers(-128, 128, size=generated.input_shape, dtype=np.int8)
    for dsp in (False, True):
        model = build_host_model(generated, tmp_path / "build", kernels_cache=runtime_workdir / "kernels",
                                 dsp_emulated=dsp)
        assert np.array_equal(model.invoke(x), reference.invoke(x))


def _keras_grouped_net():
    from tensorflow import keras
    L = keras.layers
    inp = keras.Input((8, 8, 6), batch_size=1)
    x = L.ZeroPadding2D(1)(L.Conv2D(8, 1)(inp))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, groups=4, use_bias=False)(x)))
    x = L.Conv2D(16, 3, padding="same", groups=16, activation="relu")(x)  # filter depth 1
    return keras.Model(inp, L.Conv2D(4, 1)(x))


def _keras_sequence_net():
    from tensorflow import keras
    L = keras.layers
    inp = keras.Input((6, 7), batch_size=1)
    x = L.Dense(5, activation="relu")(inp)  # FULLY_CONNECTED with keep_num_dims on (1, 6, 7)
    x = L.Conv1D(6, 3, dilation_rate=2, padding="causal")(x)
    return keras.Model(inp, L.Softmax()(L.Dense(3)(L.GlobalAveragePooling1D()(x))))


@pytest.mark.parametrize("build", [_keras_grouped_net, _keras_sequence_net], ids=["grouped convs", "sequence"])
def test_converter_written_variant_matches_tflm(check_bit_exact, build) -> None:
    import tensorflow as tf

    from .keras_nets import export_model_int8

    tf.random.set_seed(0)
    assert check_bit_exact(export_model_int8(build()), n_random=2) == 4
