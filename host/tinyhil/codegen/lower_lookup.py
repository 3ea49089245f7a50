"""Lowerings of the elementwise ops TFLM computes from a float function or an integer square root: ELU (TFLM's
int8 kernel is a table filled in float32, elu.cc), RSQRT (elementwise.cc's integer Newton steps, LayerNormalization's
1 / sqrt(variance + epsilon)) and FLOAT_UNARY, tinyhil's own op for the converter's float islands
(rewrites.float_islands: DEQUANTIZE, float elementwise ops, QUANTIZE). Each is a 256-entry table, so
fuse.fuse_activations folds it into the conv before it."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import tables
from .ir import Graph, Operator
from .layer import Layer, quant_params, table_layer, unary_tensors
from .quantize import quantize_multiplier


def elu(graph: Graph, op: Operator) -> Layer:
    """ELU int8 (TFLM elu.cc): the table of expf(x) - 1 / x, filled as TFLM fills it (tables.float_lookup)."""
    x, y = unary_tensors(graph, op)
    (xs, xz), (ys, yz) = quant_params(x), quant_params(y)
    values = tables.float_lookup(tables.elu_f32, xs, xz, ys, yz)
    return table_layer(op, "th_lookup_s8", "th_lookup_args", {"size": y.num_elements}, values)


def float_unary(graph: Graph, op: Operator) -> Layer:
    """FLOAT_UNARY: TFLM's DEQUANTIZE ((float)(double scale * (q - zp))), each float op of the island in float32,
    then QUANTIZE (roundf(x / (float)scale) + zp, clamped), tabulated over the 256 input bytes."""
    x, y = unary_tensors(graph, op)
    (xs, xz), (ys, yz) = quant_params(x), quant_params(y)
    functions = [tables.FLOAT_FUNCTIONS[opcode] for opcode in op.options["float_ops"]]

    def one(v: int) -> int:
        f = np.float32(np.float64(np.float32(xs)) * (v - xz))
        for function in functions:
            f = np.float32(function(f))
        quantized = tables.roundf(np.float32(f / np.float32(ys)))
        return max(-128, min(127, int(quantized) + yz))

    return table_layer(op, "th_lookup_s8", "th_lookup_args", {"size": y.num_elements}, tables.table(one))


def rsqrt(graph: Graph, op: Operator) -> Layer:
    """RSQRT int8 (TFLM elementwise.cc): the output multiplier 1 / (sqrtf(input scale) * output scale), the float
    product taken to double as TFLM takes it."""
    x, y = unary_tensors(graph, op)
    (xs, xz), (ys, yz) = quant_params(x), quant_params(y)
    multiplier, shift = quantize_multiplier(1.0 / float(np.sqrt(np.float32(xs)) * np.float32(ys)))
    if multiplier == 0:
        raise UnsupportedOpError(f"operator {op.index} (RSQRT) input scale {xs} and output scale {ys} give a zero "
                                 "multiplier; re-export the model")
    fields = {"size": y.num_elements, "input_zero_point": xz, "output_zero_point": yz,
              "output_multiplier": multiplier, "output_shift": shift}
    values = tables.table(lambda v: tables.rsqrt(v, xz, multiplier, shift, yz))
    return table_layer(op, "th_rsqrt_s8", "th_rsqrt_args", fields, values)
