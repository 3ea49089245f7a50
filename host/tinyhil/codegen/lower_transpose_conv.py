"""Lowering of TRANSPOSE_CONV (TFLite reference_integer_ops::TransposeConv): the int8 input scattered through the
filter into int32 sums, bias, per-channel requantisation. tinyhil gathers instead (each output element sums the
input pixels that reach it), which gives the same int32 sums with no output-sized scratch buffer."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .ir import Graph, Operator
from .layer import ConstArray, Layer, quant_params, shape4
from .quantize import activation_range, conv_multipliers
from .scratch import same_pad


def transpose_conv_out_size(padding: str, image: int, k: int, stride: int) -> int:
    """TFLite ComputeOutSize for the conv a transpose conv inverts (its 'image' is the transpose conv's output)."""
    return (image + stride - 1) // stride if padding == "SAME" else (image + stride - k) // stride


def transpose_conv(graph: Graph, op: Operator) -> Layer:
    """TRANSPOSE_CONV: inputs (output shape, filter (O, kh, kw, I), input[, bias]); TFLM's padding is the one of the
    conv it inverts, computed from the output's size (ComputePaddingHeightWidth, offset dropped)."""
    if len(op.inputs) < 3:
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE_CONV) has {len(op.inputs)} inputs; TFLite's takes "
                                 "the output shape, the filter, the input and an optional bias: the model is corrupt")
    w, x, y = graph.tensor(op.inputs[1]), graph.tensor(op.inputs[2]), graph.tensor(op.outputs[0])
    bias = graph.tensor(op.inputs[3]) if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    n, ih, iw, ic = shape4(x)
    _, oh, ow, oc = shape4(y)
    if w.data is None or len(w.shape) != 4 or int(w.shape[0]) != oc or int(w.shape[3]) != ic:
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE_CONV) filter {w.shape} does not map {x.shape} to "
                                 f"{y.shape}, or is not a constant; supported: a constant (out, kh, kw, in) int8 "
                                 "filter")
    if any(z != 0 for z in w.quant.zero_point):
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE_CONV) has non-zero filter zero points; TFLite int8 "
                                 "weights are symmetric: re-export the model")
    o = op.options
    kh, kw, sh, sw = int(w.shape[1]), int(w.shape[2]), o["stride_h"], o["stride_w"]
    pad_h = same_pad(oh, kh, sh, 1, transpose_conv_out_size(o["padding"], oh, kh, sh))
    pad_w = same_pad(ow, kw, sw, 1, transpose_conv_out_size(o["padding"], ow, kw, sw))
    (xs, xz), (ys, yz) = quant_params(x), quant_params(y)
    mults, shifts = conv_multipliers(xs, w.quant.scale, ys, oc)
    act_min, act_max = activation_range(o.get("fused_activation", "NONE"), ys, yz, op.index, op.opcode)
    p = f"layer{op.index}"
    arrays = [ConstArray(f"{p}_filter", "int8_t", np.asarray(w.data).ravel().astype(np.int64)),
              ConstArray(f"{p}_multiplier", "int32_t", np.array(mults, dtype=np.int64)),
              ConstArray(f"{p}_shift", "int32_t", np.array(shifts, dtype=np.int64))]
    fields = {"batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow, "out_c": oc, "k_h": kh,
              "k_w": kw, "stride_h": sh, "stride_w": sw, "pad_h": pad_h, "pad_w": pad_w, "input_offset": -xz,
              "output_offset": yz, "act_min": act_min, "act_max": act_max, "filter": f"{p}_filter", "bias": "NULL",
              "multiplier": f"{p}_multiplier", "shift": f"{p}_shift"}
    if bias is not None:
        arrays.append(ConstArray(f"{p}_bias", "int32_t", np.asarray(bias.data).ravel().astype(np.int64)))
        fields["bias"] = f"{p}_bias"
    return Layer(op.index, op.opcode, "th_transpose_conv_s8", "th_transpose_conv_args", fields, arrays,
                 (op.inputs[2],), op.outputs[0], macs=n * ih * iw * ic * kh * kw * oc)
