"""Lower each graph operator to one kernel call: the C function, its argument struct (every
integer precomputed here) and the constant arrays it points to. One lowering function per op,
picked from a registry."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UnsupportedOpError
from .ir import Graph, Operator
from .layer import (ArgStruct, ConstArray, Layer, binary_broadcast, binary_operands, const_inputs_of, quant_params,
                    reduce_view, shape4, table_layer, unary_tensors)
from . import lower_binary, lower_compare, lower_layout, lower_lookup, lower_requant, lower_transpose_conv, tables
from .rewrites import FLOAT_UNARY, ISLAND_OPS, REWRITTEN_OPS
from .quantize import (activation_range, conv_multipliers, f32, fast_requant, hard_swish_multipliers,
                       leaky_relu_multipliers, mean_multiplier, mul_multiplier, quantize_multiplier,
                       softmax_params)
from .scratch import (FUSED_PAIRS_WINDOWS, PAIRS_LOOPS, cascade_scratch, depthwise_pairs_ring_width, is_pointwise,
                      pairs_folded_requant, round_up4, runs_depthwise_pairs, same_pad)


_shape4 = shape4
_same_pad = same_pad
_q = quant_params


def _conv_like(graph: Graph, op: Operator, depthwise: bool, pairs: bool = False, fused: bool = False) -> Layer:
    """CONV_2D / DEPTHWISE_CONV_2D; pairs: a depthwise on the q15 ring of th_depthwise_conv2d_pairs_s8
    (scratch.runs_depthwise_pairs), or a fused block's depthwise on that ring or on q15 strips of its int8 ring
    (scratch.MbconvScratch: depthwise_pairs, strip_channels); fused: a fused block's part (its depthwise rows
    read the tap-list layout: no line records)."""
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = graph.tensor(op.outputs[0])
    n, ih, iw, ic = _shape4(x)
    _, oh, ow, oc = _shape4(y)
    kh, kw = (w.shape[1], w.shape[2])
    o = op.options
    top, bottom, left, right = o.get("fused_pad", (0, 0, 0, 0))  # a PAD folded in by fuse.fuse_pads
    fused_table = o.get("fused_table")  # an activation folded in by fuse.fuse_activations
    # the requantisation targets the conv's own output (the activation's input) when one is folded in
    (xs, xz), (ys, yz) = _q(x), _q(graph.tensor(fused_table["input"]) if fused_table else y)
    if any(z != 0 for z in w.quant.zero_point):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) has non-zero filter zero points; "
                                 "TFLite int8 weights are symmetric: re-export the model")
    mults, shifts = conv_multipliers(xs, w.quant.scale, ys, oc)
    act_min, act_max = activation_range(o["fused_activation"], ys, yz, op.index, op.opcode)
    p = f"layer{op.index}"
    takes_scratch = False
    arrays = [ConstArray(f"{p}_filter", "int8_t", w.data),
              ConstArray(f"{p}_multiplier", "int32_t", np.array(mults, dtype=np.int64)),
              ConstArray(f"{p}_shift", "int32_t", np.array(shifts, dtype=np.int64))]
    if bias is not None:
        if bias.dtype != "int32":
            raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) bias is {bias.dtype}; supported: int32")
        arrays.append(ConstArray(f"{p}_bias", "int32_t", bias.data))
    fields = {"batches": n, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow, "out_c": oc,
              "k_h": kh, "k_w": kw, "stride_h": o["stride_h"], "stride_w": o["stride_w"],
              "dil_h": o["dilation_h"], "dil_w": o["dilation_w"],
              "pad_h": top + _same_pad(ih + top + bottom, kh, o["stride_h"], o["dilation_h"], oh),
              "pad_w": left + _same_pad(iw + left + right, kw, o["stride_w"], o["dilation_w"], ow),
              "depth_multiplier": o.get("depth_multiplier", 1) if depthwise else 1,
              "input_offset": -xz, "output_offset": yz, "act_min": act_min, "act_max": act_max,
              "filter": f"{p}_filter", "bias": f"{p}_bias" if bias is not None else "NULL",
              "out_multiplier": f"{p}_multiplier", "out_shift": f"{p}_shift"}
    if depthwise:
        macs = n * oh * ow * oc * kh * kw
        if kh > 16:
            raise UnsupportedOpError(f"operator {op.index} (DEPTHWISE_CONV_2D) has a {kh}-row kernel; supported: up to 16")
        if oc != ic * fields["depth_multiplier"]:
            raise UnsupportedOpError(f"operator {op.index} (DEPTHWISE_CONV_2D): output channels {oc} != input "
                                     f"channels {ic} x depth multiplier {fields['depth_multiplier']}")
        # channel arrays padded to groups of 4: the DSP path always runs 4 lanes
        pad = (-oc) % 4
        base = bias.data.astype(np.int64) if bias is not None else np.zeros(oc, np.int64)
        line = False  # a line row (depthwise_line)
        if pairs:
            width = depthwise_pairs_ring_width(ow, kw, o["stride_w"])
            function = depthwise_pairs_kernel(kh, kw, o["stride_w"], pairs_folded_requant(mults, shifts),
                                              (act_min, act_max) != (-128, 127),
                                              pairs_fill_by_pair(ic, iw, fields["pad_w"], width))
            widened = depthwise_pairs_records(widen_depthwise_pairs(w.data.reshape(kh, kw, oc), o["stride_w"]),
                                              base, mults, shifts, yz, (act_min, act_max))
        else:
            line = not fused and depthwise_line(kh, kw, o["dilation_h"], o["dilation_w"], ic,
                                                fields["depth_multiplier"], pairs_folded_requant(mults, shifts),
                                                (act_min, act_max) != (-128, 127))
            function = depthwise_kernel(kh, kw, o["dilation_w"], ic, fields["depth_multiplier"],
                                        fast_requant(mults, shifts) is not None, pairs_folded_requant(mults, shifts),
                                        line)
            if line:
                widened = depthwise_line_records(w.data.reshape(kh * kw, oc), base, -xz, mults, shifts, yz)
            elif fields["depth_multiplier"] == 1:
                widened = widen_depthwise_filter(w.data.reshape(kh * kw, oc))
            else:  # per output channel its tap pairs, then the pairs kernel's requantisation record
                widened = depthwise_pairs_records(widen_depthwise_taps(w.data.reshape(kh * kw, oc)), base, mults,
                                                  shifts, yz, (act_min, act_max))
        if pairs or line or fields["depth_multiplier"] > 1:  # bias and requantisation live in the records
            arrays = [ConstArray(f"{p}_filter_q15", "int16_t", widened)]
            fields.update(filter="NULL", filter_q15=f"{p}_filter_q15", bias="NULL", out_multiplier="NULL",
                          out_shift="NULL")
        else:
            arrays = [ConstArray(f"{p}_filter_q15", "int16_t", widened),
                      *[a for a in arrays if a.name in (f"{p}_multiplier", f"{p}_shift")],
                      ConstArray(f"{p}_bias", "int32_t", np.append(base, [0] * pad))]
            fields.update(filter="NULL", filter_q15=f"{p}_filter_q15", bias=f"{p}_bias")
        # the pairs kernel's and the multiplier rows' are in their records
        requant = None if pairs or line or fields["depth_multiplier"] > 1 else fast_requant(mults, shifts)
        if requant is not None:
            arrays.append(ConstArray(f"{p}_requant", "int32_t", np.append(requant, [-(1 << 31), 31] * pad)))
            fields["requant"] = f"{p}_requant"
        takes_scratch = True
    else:
        if w.shape[3] != ic:  # a grouped conv whose groups divide its channels runs as groups (rewrites.py)
            what = (f"filter depth {w.shape[3]} does not divide the {ic} input channels" if ic % w.shape[3] else
                    f"{ic // w.shape[3]} groups (input channels / filter depth) do not divide the {oc} output channels")
            raise UnsupportedOpError(f"operator {op.index} (CONV_2D) is a grouped conv whose {what}: the model is "
                                     "corrupt; re-export it")
        macs = n * oh * ow * oc * kh * kw * ic
        function = "th_conv2d_1x1_s8" if is_pointwise(graph, op) else "th_conv2d_im2col_s8"
        # fold the input offset into the bias: the kernels' inner loop is a plain int8 dot product
        # (im2col fills padded taps with the zero point, which then contribute (zp + o) * w = 0)
        weights = w.data.reshape(oc, -1).astype(np.int64)
        folded = _folded_bias(graph, op)
        if np.abs(folded).max() < 2**31:
            requant = fast_requant(mults, shifts)
            arrays = [ConstArray(f"{p}_filter", "int8_t", reorder_filter_pairs(weights)),
                      *[a for a in arrays if a.name in (f"{p}_multiplier", f"{p}_shift")],
                      ConstArray(f"{p}_bias", "int32_t", np.append(folded, [0] * (oc % 2)))]
            fields["bias"] = f"{p}_bias"
            if requant is not None:
                arrays.append(ConstArray(f"{p}_requant", "int32_t", requant))
                fields["requant"] = f"{p}_requant"
            if function == "th_conv2d_1x1_s8":
                fields["input_offset"] = 0  # folded into the bias above
            takes_scratch = True
        else:  # the folded bias would overflow int32: the reference kernel adds the offset per MAC
            function = "th_conv2d_s8"
    if fused_table:
        table = _activation_table(graph, op, fused_table)
        arrays.append(table)
        fields["table"] = table.name

    return Layer(op.index, op.opcode, function, "th_conv_args", fields, arrays, (op.inputs[0],), op.outputs[0], macs,
                 takes_scratch=takes_scratch)


def _activation_table(graph: Graph, conv: Operator, fused: dict) -> ConstArray:
    """The table of an activation folded into `conv`: the activation lowered as if it ran alone, from the
    conv's own output tensor to the conv's (now the activation's) output tensor."""
    activation = Operator(conv.index, fused["opcode"], (fused["input"],), conv.outputs[:1], fused["options"])
    layer = _LOWERINGS[fused["opcode"]](graph, activation)
    return next(a for a in layer.arrays if a.name == f"layer{conv.index}_table")


def _folded_bias(graph: Graph, op: Operator) -> np.ndarray:
    """bias + input_offset * sum(w) per output channel: the bias the 1x1 / im2col kernels take."""
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    oc = int(w.shape[0])
    weights = w.data.reshape(oc, -1).astype(np.int64)
    base = bias.data.astype(np.int64) if bias is not None else np.zeros(oc, np.int64)
    return base + (-_q(x)[1]) * weights.sum(axis=1)


def pointwise_folds_offset(graph: Graph, op: Operator) -> bool:
    """A 1x1 CONV_2D runs th_conv2d_1x1_s8 (the input offset folded into an int32 bias): always for
    shape-only graphs (the cost model's), which have no zero points to fold."""
    if graph.tensor(op.inputs[0]).quant is None or graph.tensor(op.inputs[1]).data is None:
        return True
    return bool(np.abs(_folded_bias(graph, op)).max() < 2**31)


def _renamed(layer: Layer, old: str, new: str) -> Layer:
    """The layer's arrays and the fields naming them under prefix `new` instead of `old`."""
    def rename(value: object) -> object:
        return new + value[len(old):] if isinstance(value, str) and value.startswith(old + "_") else value

    layer.arrays = [ConstArray(rename(a.name), a.ctype, a.values) for a in layer.arrays]  # type: ignore[arg-type]
    layer.fields = {k: rename(v) for k, v in layer.fields.items()}  # type: ignore[misc]
    return layer


# FUSED_MBCONV's activations: opcode -> the kernel's TH_ACT_* kind (tinyhil_kernels.h)
_FUSED_ACTIVATION_KINDS = {"LEAKY_RELU": "TH_ACT_LEAKY_RELU", "HARD_SWISH": "TH_ACT_HARD_SWISH",
                           "LOGISTIC": "TH_ACT_LOGISTIC"}


def _fused_mbconv(graph: Graph, op: Operator) -> Layer:
    """One FUSED_MBCONV (fuse.fuse_mbconv, fuse.cascade): each part lowered exactly as it is unfused (the
    same arrays and integers), under this layer's name, plus the scratch layout."""
    arrays, structs, main, macs = _fused_block(graph, op, f"layer{op.index}")
    return Layer(op.index, op.opcode, "th_mbconv_fused_s8", "th_mbconv_args", main, arrays, op.inputs, op.outputs[0],
                 macs, takes_scratch=True, structs=structs)


def _fused_block(graph: Graph, op: Operator, p: str
                 ) -> tuple[list[ConstArray], list[ArgStruct], dict[str, int | list[int] | str], int]:
    """The arrays, the argument structs its th_mbconv_args points to, that struct's fields and the MACs of
    one fused block (and, recursively, of its upstream blocks), named from prefix p."""
    o = op.options
    arrays: list[ConstArray] = []
    structs: list[ArgStruct] = []
    main: dict[str, int | list[int] | str] = {}
    macs = 0
    layout = cascade_scratch(graph, op)
    upstream = o.get("upstream")
    if upstream is not None:
        up_arrays, up_structs, up_main, up_macs = _fused_block(graph, upstream, f"{p}_up")
        arrays += up_arrays
        structs += [*up_structs, ArgStruct("th_mbconv_args", f"{p}_up_args", up_main)]
        macs += up_macs
    main.update(upstream=f"&{p}_up_args" if upstream is not None else "NULL",
                upstream_scratch_offset=layout.upstream_scratch_offset, upstream_row_offset=layout.upstream_row_offset)
    for role, struct_field in (("expand", "expand"), ("expand_act", "expand_act"), ("depthwise", "depthwise"),
                               ("depthwise_act", "depthwise_act"), ("se_mean", "se_mean"), ("se_reduce", "se_reduce"),
                               ("se_expand", "se_expand"), ("se_gate", "se_gate"), ("se_mul", "se_mul"),
                               ("project", "project"), ("add", "residual")):
        sub = o.get(role)
        activation = role.endswith("_act")
        if sub is None:
            main[struct_field] = "{TH_ACT_NONE, NULL}" if activation else "NULL"
            continue
        if role in ("expand", "depthwise", "project", "se_reduce", "se_expand"):
            part = _conv_like(graph, sub, depthwise=role == "depthwise",  # the pair records for the q15 ring or strips
                              pairs=role == "depthwise" and bool(layout.own.depthwise_pairs or layout.own.strip_channels),
                              fused=True)
        else:
            part = _LOWERINGS[sub.opcode](graph, sub)
        if role in ("expand", "project", "se_reduce", "se_expand") and part.function != "th_conv2d_1x1_s8":
            raise UnsupportedOpError(f"operator {sub.index} ({sub.opcode}) cannot run fused: its {role} conv is "
                                     f"not the 1x1 fast path ({part.function})")
        part = _renamed(part, f"layer{sub.index}", f"{p}_{role}")
        arrays += part.arrays
        structs.append(ArgStruct(part.args_type or "", f"{p}_{role}_args", part.fields))
        main[struct_field] = (f"{{{_FUSED_ACTIVATION_KINDS[sub.opcode]}, &{p}_{role}_args}}" if activation
                              else f"&{p}_{role}_args")
        macs += part.macs
    add = o["add"]
    main["projection_is_input1"] = int(add is not None and add.inputs[0] == o["project"].outputs[0])
    own = layout.own
    main.update(dw_row_offset=own.dw_row_offset, project_row_offset=own.project_row_offset, q15_offset=own.q15_offset,
                se_sums_offset=own.se_sums_offset, se_pooled_offset=own.se_pooled_offset,
                se_reduced_offset=own.se_reduced_offset, se_pre_offset=own.se_pre_offset,
                se_gate_offset=own.se_gate_offset, depthwise_pairs=int(own.depthwise_pairs),
                expanded_row_offset=own.expanded_row_offset, strip_channels=own.strip_channels,
                dw_channels=fused_pairs_channels(graph, o["depthwise"]) if own.depthwise_pairs or own.strip_channels
                else "NULL")
    return arrays, structs, main, macs


def fused_pairs_channels(graph: Graph, depthwise: Operator) -> str:
    """The pair rows a fused block's depthwise runs on its q15 ring or strips, one function per window
    (depthwise_conv2d_pairs.c's th_dwp_channels_3x3 / _5x5 / _7x7: scratch.FUSED_PAIRS_WINDOWS), so that a
    firmware links only the loops of the windows its blocks have."""
    k_h, k_w = (int(d) for d in graph.tensor(depthwise.inputs[1]).shape[1:3])
    if (k_h, k_w) not in FUSED_PAIRS_WINDOWS:
        raise UnsupportedOpError(f"operator {depthwise.index} ({depthwise.opcode}): a {k_h}x{k_w} depthwise has no "
                                 f"pair rows in a fused block (scratch.FUSED_PAIRS_WINDOWS); a tinyhil bug: report it")
    return f"th_dwp_channels_{k_h}x{k_w}"


def widen_depthwise_filter(weights: np.ndarray) -> np.ndarray:
    """[taps][out_c] int8 -> int16 [out_c / 4][taps][4], each group of 4 channels as {c0, c2, c1, c3}
    (the lanes SXTAB16 and SXTAB16-ROR8 give the inputs); channels zero-padded to a multiple of 4."""
    taps, oc = weights.shape
    padded = np.zeros((taps, oc + (-oc) % 4), dtype=np.int64)
    padded[:, :oc] = weights
    groups = padded.reshape(taps, -1, 4)[:, :, [0, 2, 1, 3]]  # [tap][group][lane]
    return groups.transpose(1, 0, 2).reshape(-1)


# the one-line windows of depthwise_conv2d.c's line rows (th_dw_line_row): k x 1 and 1 x k
DEPTHWISE_LINES = ((3, 1), (5, 1), (7, 1), (1, 3), (1, 5), (1, 7))


def depthwise_line_records(weights: np.ndarray, bias: np.ndarray, input_offset: int, multipliers: list[int],
                           shifts: list[int], output_offset: int) -> np.ndarray:
    """[taps][channels] int8 (channels a multiple of 4) -> the records of depthwise_conv2d.c's line rows as int16
    (low halfword first), one per group of 4 channels, in the order the loop reads them: the 4 biases with the
    input offset folded in (b + input_offset * sum of the channel's taps: a padded tap holds the input zero
    point, -input_offset, so it still adds nothing), per tap the weight words {c0, c2}, {c1, c3}
    (widen_depthwise_filter's order), then per channel {mult, K, e}, depthwise_pairs_records' folded
    requantisation (pairs_folded_requant must hold)."""
    taps, channels = weights.shape
    w = weights.astype(np.int64)
    folded_bias = bias[:channels].astype(np.int64) + input_offset * w.sum(axis=0)
    lanes = widen_depthwise_filter(weights).reshape(channels // 4, taps * 2, 2)
    tap_words = (lanes[:, :, 0] & 0xFFFF) | ((lanes[:, :, 1] & 0xFFFF) << 16)  # [group][2 * taps]
    params = np.array([(2 * m - (1 << 32), (1 << (-s - 1)) + output_offset * (1 << -s), -s)
                       for m, s in zip(multipliers, shifts)], dtype=np.int64).reshape(channels // 4, 12)
    records = np.concatenate([folded_bias.reshape(channels // 4, 4), tap_words, params], axis=1)
    return (records & 0xFFFFFFFF).astype("<u4").reshape(-1).view("<i2").astype(np.int64)


def widen_depthwise_pairs(weights: np.ndarray, stride_w: int) -> np.ndarray:
    """[k_h][k_w][channels] int8 -> int16 [channels][k_h][words][2]: per channel and filter row the q15 weight
    pairs of depthwise_conv2d_pairs.c, which does two output pixels per step with one SMLAD for two taps.
    Stride 1 (k_w made odd, 2m + 1, with a zero tap): E_i = (w[2i], w[2i+1]) for i < m, then
    O_i = (w[2i-1], w[2i]) for i = 1..m; k_w = 1: one word (w[0], w[0]). Stride 2: F_i = (w[2i], w[2i+1]),
    i < ceil(k_w / 2), w zero-padded."""
    kh, kw, channels = weights.shape
    w = np.zeros((channels, kh, kw + 2), dtype=np.int64)
    w[:, :, :kw] = weights.transpose(2, 0, 1)
    if stride_w == 2:
        words = [w[:, :, 2 * i:2 * i + 2] for i in range((kw + 1) // 2)]
    else:
        m = (kw | 1) // 2
        if m == 0:
            words = [w[:, :, [0, 0]]]
        else:
            words = ([w[:, :, 2 * i:2 * i + 2] for i in range(m)]
                     + [w[:, :, 2 * i - 1:2 * i + 1] for i in range(1, m + 1)])
    return np.stack(words, axis=2).reshape(-1)  # [channel][row][word][2]


DEPTHWISE_MAX_TAPS = 64  # depthwise_conv2d.c's TH_DW_MAX_TAPS and 2 x TH_DW_MULT_MAX_PAIRS
# the fixed windows of depthwise_conv2d.c (3x3 and th_dw_row_dsp_window's)
DEPTHWISE_WINDOWS = ((3, 3), (3, 1), (5, 1), (7, 1), (1, 3), (1, 5), (1, 7), (5, 5), (7, 7))


def depthwise_line(k_h: int, k_w: int, dilation_h: int, dilation_w: int, in_c: int, depth_multiplier: int,
                   folded_requant: bool, clamp: bool) -> bool:
    """Whether a layer runs a line row of depthwise_conv2d.c: a k x 1 or 1 x k window (DEPTHWISE_LINES),
    dilation 1, multiplier 1, channels a multiple of 4, the folded requantisation and SSAT's bounds."""
    return ((k_h, k_w) in DEPTHWISE_LINES and dilation_h == dilation_w == 1 and depth_multiplier == 1
            and in_c % 4 == 0 and folded_requant and not clamp)


def depthwise_kernel(k_h: int, k_w: int, dilation_w: int, in_c: int, depth_multiplier: int,
                     fast_requant: bool, folded_requant: bool = False, line: bool = False) -> str:
    """The row loop of depthwise_conv2d.c a layer runs, as its kernel's name (one function per loop, so the
    firmware links only those its layers use): a fixed window unrolled (DEPTHWISE_WINDOWS, dilation 1 in W,
    channels a multiple of 4; other than 3x3 only with fast_requant, quantize.fast_requant's multipliers), the
    tap list (multiplier 1), tap pairs (multiplier > 1 with folded_requant, pairs_folded_requant's records: 3x3
    with its window in registers, or any), up to DEPTHWISE_MAX_TAPS taps; else the portable row. line
    (depthwise_line): the line row of the window, its records from depthwise_line_records."""
    if line:
        return f"th_depthwise_conv2d_line_{k_h}x{k_w}_s8"
    if k_h * k_w > DEPTHWISE_MAX_TAPS or (depth_multiplier > 1 and not folded_requant):
        variant = "portable"
    elif depth_multiplier > 1:
        variant = "multiplier_3x3" if (k_h, k_w) == (3, 3) else "multiplier"
    elif ((k_h, k_w) in DEPTHWISE_WINDOWS and dilation_w == 1 and in_c % 4 == 0
          and (fast_requant or (k_h, k_w) == (3, 3))):
        variant = f"{k_h}x{k_w}"
    else:
        variant = "taps"
    return f"th_depthwise_conv2d_{variant}_s8"


def pairs_fill_by_pair(in_c: int, in_w: int, pad_w: int, width: int) -> bool:
    """Whether depthwise_conv2d_pairs.c fills its ring column pair by column pair (th_dwp_fill_by_pair: more
    4-channel groups than whole image column pairs in a ring row of `width` columns) or group by group."""
    first, last = pad_w, min(width, pad_w + in_w)  # the image's columns in the ring row
    pair_first = (first + 1) & ~1
    pairs = (last - pair_first) >> 1 if last > pair_first else 0
    return in_c >> 2 > pairs


def depthwise_pairs_kernel(k_h: int, k_w: int, stride_w: int, folded: bool, clamp: bool, by_pair: bool) -> str:
    """The variant of depthwise_conv2d_pairs.c a layer runs, as its kernel's name: a hand-scheduled loop for its
    window and stride, with the activation clamp (clamp: bounds inside int8) or SSAT's alone, where the records
    hold the folded requantisation (folded), else the portable row; and its ring fill (pairs_fill_by_pair)."""
    fill = "by_pair" if by_pair else "by_group"
    if not folded or stride_w not in PAIRS_LOOPS.get((k_h, k_w), ()):
        return f"th_depthwise_conv2d_pairs_portable_{fill}_s8"
    return f"th_depthwise_conv2d_pairs_{k_h}x{k_w}_s{stride_w}{'_clamp' if clamp else ''}_{fill}_s8"


def depthwise_pairs_records(widened: np.ndarray, bias: np.ndarray, multipliers: list[int], shifts: list[int],
                            output_offset: int, bounds: tuple[int, int]) -> np.ndarray:
    """widen_depthwise_pairs' weights -> int16 per channel record of depthwise_conv2d_pairs.c: its weight
    words, then {bias, mult, K, e} as int32 (low halfword first): mult = 2m - 2^32 (SMMLAR's SRDHM), e the
    right shift and K = 2^(e-1) + output_offset * 2^e, the rounding and the offset of one saturating add;
    the e word also carries the activation bounds (bytes 1 and 2: ASR by a register reads only byte 0).
    A layer with a channel shifting left, by more than scratch.PAIRS_MAX_SHIFT or with multiplier 0 gets
    {bias, m, shift, 0} everywhere (e = 0: the kernel runs its portable row, MultiplyByQuantizedMultiplier)."""
    channels = len(multipliers)
    words = widened.reshape(channels, -1, 2).astype(np.int64)
    words = (words[:, :, 0] & 0xFFFF) | ((words[:, :, 1] & 0xFFFF) << 16)  # [channel][word] as uint32
    fast = pairs_folded_requant(multipliers, shifts)
    params = np.zeros((channels, 4), dtype=np.int64)
    params[:, 0] = bias[:channels]
    for c, (m, s) in enumerate(zip(multipliers, shifts)):
        e = -s
        lo, hi = bounds
        e_word = e | (lo & 0xFF) << 8 | (hi & 0xFF) << 16
        params[c, 1:4] = (2 * m - (1 << 32), (1 << (e - 1)) + output_offset * (1 << e), e_word) if fast else (m, s, 0)
    records = np.concatenate([words, params & 0xFFFFFFFF], axis=1).astype("<u4")
    return records.reshape(-1).view("<i2").astype(np.int64)  # little-endian, as the Cortex-M reads the words


def widen_depthwise_taps(weights: np.ndarray) -> np.ndarray:
    """[taps][out_c] int8 -> int16 [out_c][taps rounded up to even]: per output channel its taps in pairs,
    the layout of depthwise_conv2d.c for depth multiplier > 1 (one SMLAD per two taps)."""
    taps, oc = weights.shape
    padded = np.zeros((oc, taps + taps % 2), dtype=np.int64)
    padded[:, :taps] = weights.T
    return padded.reshape(-1)


def reorder_filter_pairs(weights: np.ndarray) -> np.ndarray:
    """[out_c][K] int8 -> the pair layout of tinyhil_matmul.h: channels in pairs (an odd last channel
    gets a zero partner), K zero-padded to a multiple of 4, and per pair and block of 4 k the even
    channel's 4 weights, then the odd channel's."""
    oc, k = weights.shape
    padded = np.zeros((oc + oc % 2, round_up4(k)), dtype=np.int64)
    padded[:oc, :k] = weights
    pairs = padded.reshape(-1, 2, padded.shape[1] // 4, 4)  # [pair][channel in pair][block][4]
    return pairs.transpose(0, 2, 1, 3).reshape(-1)


def _fully_connected(graph: Graph, op: Operator) -> Layer:
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = graph.tensor(op.outputs[0])
    if op.options.get("weights_format", 0) != 0:
        raise UnsupportedOpError(f"operator {op.index} (FULLY_CONNECTED) uses shuffled weights; supported: DEFAULT")
    out_features, in_features = int(w.shape[0]), int(w.shape[1])
    batches = x.num_elements // in_features
    (xs, xz), (ys, yz) = _q(x), _q(y)
    mults, shifts = conv_multipliers(xs, w.quant.scale, ys, out_features)
    act_min, act_max = activation_range(op.options["fused_activation"], ys, yz, op.index, op.opcode)
    p = f"layer{op.index}"
    arrays = [ConstArray(f"{p}_filter", "int8_t", w.data),
              ConstArray(f"{p}_multiplier", "int32_t", np.array(mults, dtype=np.int64)),
              ConstArray(f"{p}_shift", "int32_t", np.array(shifts, dtype=np.int64))]
    if bias is not None:
        arrays.append(ConstArray(f"{p}_bias", "int32_t", bias.data))
    fields = {"batches": batches, "in_features": in_features, "out_features": out_features,
              "input_offset": -xz, "filter_offset": -w.quant.zero_point[0], "output_offset": yz,
              "act_min": act_min, "act_max": act_max, "filter": f"{p}_filter",
              "bias": f"{p}_bias" if bias is not None else "NULL",
              "out_multiplier": f"{p}_multiplier", "out_shift": f"{p}_shift"}
    function = "th_fully_connected_s8"
    weights = w.data.reshape(out_features, in_features).astype(np.int64)
    base = bias.data.astype(np.int64) if bias is not None else np.zeros(out_features, np.int64)
    folded = base + (-xz) * weights.sum(axis=1)  # the input offset folded in, as for the 1x1 convs
    if w.quant.zero_point[0] == 0 and np.abs(folded).max() < 2**31:
        function = fully_connected_kernel(out_features, fast_requant(mults, shifts) is not None
                                          and (act_min, act_max) == (-128, 127))
        arrays = [ConstArray(f"{p}_filter", "int8_t", interleave_fc_rows(weights)),
                  *[a for a in arrays if a.name in (f"{p}_multiplier", f"{p}_shift")],
                  ConstArray(f"{p}_bias", "int32_t", folded)]
        fields.update(input_offset=0, bias=f"{p}_bias")
        requant = fast_requant(mults, shifts)
        if requant is not None:  # replaces the multipliers and shifts (8 bytes of flash per output saved)
            arrays = [a for a in arrays if a.name not in (f"{p}_multiplier", f"{p}_shift")]
            arrays.append(ConstArray(f"{p}_requant", "int32_t", requant))
            fields.update(requant=f"{p}_requant", out_multiplier="NULL", out_shift="NULL")
    # else: a filter zero point or a folded bias past int32: the reference kernel adds the offsets per MAC
    return Layer(op.index, op.opcode, function, "th_fc_args", fields, arrays, (op.inputs[0],),
                 op.outputs[0], batches * in_features * out_features)


def fc_group_rows(left: int) -> int:
    """Rows of the next group of the fully_connected_folded.c layout when `left` rows are still to group (the
    twin of its th_fc_group_rows): the fewest groups of even size, 6 rows at most (the M7's registers), and
    a single row for an odd out_features."""
    if left >= 10 or left in (6, 7):
        return 6
    if left >= 4:
        return 4
    return 2 if left == 3 else left


def fc_row_groups(out_features: int) -> list[int]:
    """The row-group sizes of the fully_connected_folded.c layout, first to last (fc_group_rows each time)."""
    groups, start = [], 0
    while start < out_features:
        groups.append(fc_group_rows(out_features - start))
        start += groups[-1]
    return groups


def fully_connected_kernel(out_features: int, fast: bool) -> str:
    """The variant of fully_connected_folded.c for out_features rows, as its kernel's name: the sizes of the row
    groups fc_group_rows makes (th_fully_connected_folded_g61_s8 for 7 rows), so a firmware links only those;
    fast: quantize.fast_requant's multipliers and no activation narrower than int8 (the _fast twin)."""
    sizes = set(fc_row_groups(out_features))
    groups = "".join(str(r) for r in (6, 4, 2, 1) if r in sizes)
    return f"th_fully_connected_folded_g{groups}{'_fast' if fast else ''}_s8"


def interleave_fc_rows(weights: np.ndarray) -> np.ndarray:
    """[out][K] int8 -> the layout of fully_connected_folded.c: K zero-padded to a multiple of 4, rows in
    groups of fc_group_rows, and per group and block of 4 k the 4 weights of each row of the group in turn."""
    out, k = weights.shape
    padded = np.zeros((out, round_up4(k)), dtype=np.int64)
    padded[:, :k] = weights
    groups, start = [], 0
    for rows in fc_row_groups(out):
        group = padded[start:start + rows]  # [rows][K padded]
        groups.append(group.reshape(rows, -1, 4).transpose(1, 0, 2).reshape(-1))  # [block][row][4]
        start += rows
    return np.concatenate(groups) if groups else padded.reshape(-1)


def _add(graph: Graph, op: Operator) -> Layer:
    """ADD, and SUB (the same parameters; th_sub_s8 subtracts the rescaled input2). ADD's operands may come in
    either order (each keeps its own rescaling: the sum is symmetric); SUB's minuend is its first operand, which
    must be shaped as the output."""
    first, second = binary_operands(graph, op, commutative=op.opcode == "ADD")
    a, b, y = graph.tensor(first), graph.tensor(second), graph.tensor(op.outputs[0])
    inner, walk = binary_broadcast(graph, op, first, second)
    (as_, az), (bs, bz), (ys, yz) = _q(a), _q(b), _q(y)
    left_shift = 20
    twice_max = 2 * max(f32(as_), f32(bs))
    m1, s1 = quantize_multiplier(f32(as_) / twice_max)
    m2, s2 = quantize_multiplier(f32(bs) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * f32(ys)))
    act_min, act_max = activation_range(op.options["fused_activation"], ys, yz, op.index, op.opcode)
    fields = {"size": y.num_elements, "input1_offset": -az, "input2_offset": -bz, "output_offset": yz,
              "left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1, "input2_multiplier": m2,
              "input2_shift": s2, "output_multiplier": mo, "output_shift": so, "act_min": act_min, "act_max": act_max,
              "input2_inner": 0 if inner is None or b.num_elements == y.num_elements else inner}
    arrays, const_inputs = const_inputs_of(graph, op, (first, second))
    if walk is not None:
        fields["broadcast"] = f"&{walk.name}"
    broadcast = walk is not None or (fields["input2_inner"] == 1 and y.num_elements > 1)  # the walk, or a scalar
    function = f"th_{'sub' if op.opcode == 'SUB' else 'add'}{'_broadcast' if broadcast else ''}_s8"
    return Layer(op.index, op.opcode, function, "th_add_args", fields, arrays, (first, second), op.outputs[0],
                 const_inputs=const_inputs, structs=[walk] if walk is not None else [])


def _pool(graph: Graph, op: Operator) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    n, ih, iw, c = _shape4(x)
    _, oh, ow, _ = _shape4(y)
    if _q(x) != _q(y):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) requantises (input {_q(x)} vs output "
                                 f"{_q(y)}); TFLite int8 pooling keeps the input's quantisation")
    o = op.options
    ys, yz = _q(y)
    act_min, act_max = activation_range(o["fused_activation"], ys, yz, op.index, op.opcode)
    fields = {"batches": n, "in_h": ih, "in_w": iw, "channels": c, "out_h": oh, "out_w": ow,
              "filter_h": o["filter_h"], "filter_w": o["filter_w"], "stride_h": o["stride_h"], "stride_w": o["stride_w"],
              "pad_h": _same_pad(ih, o["filter_h"], o["stride_h"], 1, oh),
              "pad_w": _same_pad(iw, o["filter_w"], o["stride_w"], 1, ow), "act_min": act_min, "act_max": act_max}
    function = "th_avg_pool_s8" if op.opcode == "AVERAGE_POOL_2D" else "th_max_pool_s8"
    return Layer(op.index, op.opcode, function, "th_pool_args", fields, [], (op.inputs[0],), op.outputs[0])


def _mean(graph: Graph, op: Operator) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    outer, reduce, inner = reduce_view(graph, op)
    (xs, xz), (ys, yz) = _q(x), _q(y)
    multiplier, shift = mean_multiplier(xs, ys, reduce)
    fields = {"outer": outer, "reduce": reduce, "inner": inner, "input_zero_point": xz, "output_zero_point": yz,
              "multiplier": multiplier, "shift": shift}
    return Layer(op.index, op.opcode, "th_mean_s8", "th_mean_args", fields, [], (op.inputs[0],), op.outputs[0])


def _pad(graph: Graph, op: Operator) -> Layer:
    """PAD and PADV2 of a 1-D to 4-D tensor (a causal Conv1D pads its (1, T, C) input), extended to 4-D with
    leading 1s; the padding value is the output's zero point, or PADV2's constant (its raw int8, as TFLM takes it)."""
    x, pads, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    rank = len(x.shape)
    if not 1 <= rank <= 4 or pads.data is None or np.asarray(pads.data).size != 2 * rank:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) of a rank-{rank} tensor: supported, a 1-D to 4-D "
                                 "input with constant paddings")
    pad_value = _q(y)[1]
    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = graph.tensor(op.inputs[2])
        if value.data is None or value.dtype != "int8":
            raise UnsupportedOpError(f"operator {op.index} (PADV2) pads with '{value.name}', not an int8 constant; "
                                     "supported: a constant padding value")
        pad_value = int(np.asarray(value.data).ravel()[0])
    lead = [1] * (4 - rank)
    before = [0] * (4 - rank) + [int(v) for v in np.asarray(pads.data).reshape(rank, 2)[:, 0]]
    fields = {"in_dims": lead + [int(d) for d in x.shape], "out_dims": lead + [int(d) for d in y.shape],
              "before": before, "pad_value": pad_value}
    return Layer(op.index, op.opcode, "th_pad_s8", "th_pad_args", fields, [], (op.inputs[0],), op.outputs[0])


def _softmax(graph: Graph, op: Operator) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    ys, yz = _q(y)
    if yz != -128 or abs(ys - 1.0 / 256) > 1e-9:
        raise UnsupportedOpError(f"operator {op.index} (SOFTMAX) output quantisation ({ys}, {yz}); "
                                 "supported: scale 1/256, zero point -128 (what the converter emits)")
    multiplier, left_shift, diff_min = softmax_params(op.options.get("beta", 1.0), _q(x)[0])
    depth = int(x.shape[-1])
    fields = {"rows": x.num_elements // depth, "depth": depth, "input_multiplier": multiplier,
              "input_left_shift": left_shift, "diff_min": diff_min}
    return Layer(op.index, op.opcode, "th_softmax_s8", "th_softmax_args", fields, [], (op.inputs[0],), op.outputs[0])


_unary = unary_tensors
_table_layer = table_layer


def _leaky_relu(graph: Graph, op: Operator) -> Layer:
    x, y = _unary(graph, op)
    (xs, xz), (ys, yz) = _q(x), _q(y)
    identity, alpha, negative = leaky_relu_multipliers(xs, ys, op.options.get("alpha", 0.0))
    fields = {"size": y.num_elements, "input_zero_point": xz, "output_zero_point": yz,
              "identity_multiplier": identity[0], "identity_shift": identity[1],
              "alpha_multiplier": alpha[0], "alpha_shift": alpha[1], "alpha_negative": int(negative)}
    values = tables.table(lambda v: tables.leaky_relu(v, xz, yz, identity, alpha, negative))
    return _table_layer(op, "th_leaky_relu_s8", "th_leaky_relu_args", fields, values)


def _hard_swish(graph: Graph, op: Operator) -> Layer:
    x, y = _unary(graph, op)
    (xs, xz), (ys, yz) = _q(x), _q(y)
    output, reluish = hard_swish_multipliers(xs, ys)
    if not (-15 <= output[1] <= 0 and reluish[1] >= -15):
        raise UnsupportedOpError(f"operator {op.index} (HARD_SWISH): input scale {xs} and output scale {ys} are too "
                                 "far apart for TFLite's int16 HARD_SWISH arithmetic; re-export the model")
    fields = {"size": y.num_elements, "input_zero_point": xz, "output_zero_point": yz,
              "output_multiplier": output[0], "output_exponent": output[1],
              "reluish_multiplier": reluish[0], "reluish_exponent": reluish[1]}
    values = tables.table(lambda v: tables.hard_swish(v, xz, yz, output, reluish))
    return _table_layer(op, "th_hard_swish_s8", "th_hard_swish_args", fields, values)


def _logistic(graph: Graph, op: Operator) -> Layer:
    x, y = _unary(graph, op)
    xz, yz = _q(x)[1], _q(y)[1]
    if yz != -128:
        raise UnsupportedOpError(f"operator {op.index} (LOGISTIC) output zero point {yz}; TFLite's int8 LOGISTIC "
                                 "needs -128 (what the converter emits)")
    fields = lower_requant.q4_input_fields(op, x, y)
    values = tables.table(lambda v: tables.logistic(v, xz, fields["input_range_radius"], fields["input_multiplier"],
                                                    fields["input_left_shift"]))
    return _table_layer(op, "th_logistic_s8", "th_logistic_args", fields, values)


def _swish(graph: Graph, op: Operator) -> Layer:
    """SWISH (fuse.fuse_swish): the LOGISTIC and the MUL lowered as they are alone, under this layer's
    name, for the portable path; the table of their composition for the fast path."""
    p = f"layer{op.index}"
    x = op.inputs[0]
    logistic = _logistic(graph, op.options["logistic"])
    mul = _renamed(_mul(graph, op.options["mul"]), f"layer{op.options['mul'].index}", f"{p}_mul")
    sigmoid = np.asarray(logistic.arrays[0].values, dtype=np.int64)
    m = mul.fields
    input_is_first = mul.inputs[0] == x

    def swish(v: int) -> int:
        s = int(sigmoid[v & 0xFF])
        x1, x2 = (v, s) if input_is_first else (s, v)
        y = tables.mbqm((x1 + m["input1_offset"]) * (x2 + m["input2_offset"]), m["output_multiplier"],
                        m["output_shift"]) + m["output_offset"]
        return max(m["act_min"], min(m["act_max"], y))

    logistic_fields = {**logistic.fields, "table": "NULL"}  # the portable path computes; its table is unused
    structs = [ArgStruct("th_logistic_args", f"{p}_logistic_args", logistic_fields),
               ArgStruct("th_mul_args", f"{p}_mul_args", mul.fields)]
    fields = {"size": graph.tensor(op.outputs[0]).num_elements, "input_is_first": int(input_is_first),
              "logistic": f"&{p}_logistic_args", "mul": f"&{p}_mul_args", "table": f"{p}_table"}
    arrays = [*mul.arrays, ConstArray(f"{p}_table", "int8_t", tables.table(swish))]
    return Layer(op.index, op.opcode, "th_swish_s8", "th_swish_args", fields, arrays, (x,), op.outputs[0],
                 structs=structs)


def _mul(graph: Graph, op: Operator) -> Layer:
    first, second = binary_operands(graph, op, commutative=True)  # (q1 + o1) * (q2 + o2) is symmetric
    a, b, y = graph.tensor(first), graph.tensor(second), graph.tensor(op.outputs[0])
    inner, walk = binary_broadcast(graph, op, first, second)
    (as_, az), (bs, bz), (ys, yz) = _q(a), _q(b), _q(y)
    multiplier, shift = mul_multiplier(as_, bs, ys)
    act_min, act_max = activation_range(op.options.get("fused_activation", "NONE"), ys, yz, op.index, op.opcode)
    inner = inner or y.num_elements
    fields = {"outer": y.num_elements // inner, "inner": inner, "input1_offset": -az, "input2_offset": -bz,
              "output_offset": yz, "output_multiplier": multiplier, "output_shift": shift,
              "act_min": act_min, "act_max": act_max, "requant": "NULL"}
    if walk is not None:
        fields["broadcast"] = f"&{walk.name}"
    arrays, const_inputs = const_inputs_of(graph, op, (first, second))
    requant = fast_requant([multiplier], [shift])
    if requant is not None:
        arrays.append(ConstArray(f"layer{op.index}_requant", "int32_t", requant))
        fields["requant"] = f"layer{op.index}_requant"
    return Layer(op.index, op.opcode, "th_mul_s8", "th_mul_args", fields, arrays, (first, second), op.outputs[0],
                 const_inputs=const_inputs, structs=[walk] if walk is not None else [])


_LOWERINGS: dict[str, Callable[[Graph, Operator], Layer]] = {
    "CONV_2D": lambda g, op: _conv_like(g, op, depthwise=False),
    "DEPTHWISE_CONV_2D": lambda g, op: _conv_like(g, op, depthwise=True, pairs=runs_depthwise_pairs(g, op)),
    "FULLY_CONNECTED": _fully_connected,
    "ADD": _add,
    "SUB": _add,
    "AVERAGE_POOL_2D": _pool,
    "MAX_POOL_2D": _pool,
    "MEAN": _mean,
    "PAD": _pad,
    "PADV2": _pad,
    "SOFTMAX": _softmax,
    "RESHAPE": lower_layout.reshape,
    "SQUEEZE": lower_layout.reshape,
    "EXPAND_DIMS": lower_layout.reshape,
    "CONCATENATION": lower_layout.concatenation,
    "RESIZE_NEAREST_NEIGHBOR": lower_layout.resize_nearest_neighbor,
    "RESIZE_BILINEAR": lower_layout.resize_bilinear,
    "TRANSPOSE": lower_layout.transpose,
    "STRIDED_SLICE": lower_layout.strided_slice,
    "SLICE": lower_layout.slice_,
    "DEPTH_TO_SPACE": lower_layout.depth_space,
    "SPACE_TO_DEPTH": lower_layout.depth_space,
    "TRANSPOSE_CONV": lower_transpose_conv.transpose_conv,
    "RELU": lower_requant.relu,
    "RELU6": lower_requant.relu6,
    "QUANTIZE": lower_requant.quantize,
    "TANH": lower_requant.tanh,
    "ELU": lower_lookup.elu,
    "RSQRT": lower_lookup.rsqrt,
    "SQUARED_DIFFERENCE": lower_binary.squared_difference,
    "BATCH_MATMUL": lower_binary.batch_matmul,
    FLOAT_UNARY: lower_lookup.float_unary,
    "MAXIMUM": lower_compare.maximum_minimum,
    "MINIMUM": lower_compare.maximum_minimum,
    "PRELU": lower_compare.prelu,
    "REDUCE_MAX": lower_compare.reduce_max_min,
    "REDUCE_MIN": lower_compare.reduce_max_min,
    "LEAKY_RELU": _leaky_relu,
    "HARD_SWISH": _hard_swish,
    "LOGISTIC": _logistic,
    "MUL": _mul,
    "FUSED_MBCONV": _fused_mbconv,
    "SWISH": _swish,
}
# the .tflite ops: those lowered, and those the planner's rewrites turn into them first
SUPPORTED_OPS = tuple(sorted({*(k for k in _LOWERINGS if k not in ("FUSED_MBCONV", "SWISH", FLOAT_UNARY)),
                              *REWRITTEN_OPS, *ISLAND_OPS}))


def lower(graph: Graph) -> list[Layer]:
    """One Layer per operator, in schedule order."""
    layers = []
    for op in graph.operators:
        lowering = _LOWERINGS.get(op.opcode)
        if lowering is None and op.opcode in ISLAND_OPS:  # outside a float island (rewrites.float_islands)
            raise UnsupportedOpError(f"operator {op.index} is an int8 {op.opcode}, which the tinyhil int8 runtime does "
                                     "not implement; it runs NEG and ELU in float between a DEQUANTIZE and a QUANTIZE "
                                     "(what the converter writes), and ELU in int8")
        if lowering is None:
            raise UnsupportedOpError(f"operator {op.index} is {op.opcode}, which the tinyhil int8 runtime does not "
                                     f"implement; supported ops: {', '.join(SUPPORTED_OPS)}")
        layers.append(lowering(graph, op))
    return layers
