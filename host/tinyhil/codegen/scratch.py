"""Scratch bytes each kernel needs besides its input and output, from shapes alone, so that the
memory planner (which also plans shape-only graphs for the cost model) and the lowering agree."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .ir import Graph, Operator


def round_up4(n: int) -> int:
    return (n + 3) // 4 * 4


def same_pad(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's SAME padding before the first row / column (the lowering adds any folded PAD on top)."""
    effective = (k - 1) * dilation + 1
    return max((out_size - 1) * stride + effective - in_size, 0) // 2


def depthwise_pad_h(graph: Graph, op: Operator) -> int:
    """Rows of padding above the image, as the lowering computes it (a folded PAD plus SAME padding)."""
    x, w, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    o = op.options
    top, bottom = o.get("fused_pad", (0, 0, 0, 0))[:2]
    return top + same_pad(int(x.shape[1]) + top + bottom, int(w.shape[1]), o.get("stride_h", 1),
                          o.get("dilation_h", 1), int(y.shape[1]))


def _align16(n: int) -> int:
    return (n + 15) // 16 * 16


@dataclass(frozen=True)
class MbconvScratch:
    """th_mbconv_fused_s8's scratch: the depthwise's ring of k_h expanded rows (int8, or q15 per channel when
    depthwise_pairs), [the int8 row the expansion makes before it is widened into the q15 ring], one depthwise
    output row, one projected row (residual blocks only: the ADD reads it), the q15 blocks of two pixels."""

    ring: int
    dw_row_offset: int
    project_row_offset: int
    q15_offset: int
    total: int
    # squeeze-excitation (two passes): int32 channel sums, the pooled vector, the squeezed one, the gate
    # before and after LOGISTIC; 0 without SE
    se_sums_offset: int = 0
    se_pooled_offset: int = 0
    se_reduced_offset: int = 0
    se_pre_offset: int = 0
    se_gate_offset: int = 0
    depthwise_pairs: bool = False  # the q15 ring of depthwise_conv2d_pairs.c (fused_depthwise_pairs)
    expanded_row_offset: int = 0  # q15 ring with an expansion only
    strip_channels: int = 0  # int8 ring, 3x3: channels per q15 strip in the q15 blocks' bytes (0: the tap list)


def mbconv_scratch(graph: Graph, op: Operator) -> MbconvScratch:
    o = op.options
    dw, project = o["depthwise"], o["project"]
    pairs = fused_depthwise_pairs(graph, dw)
    ring = depthwise_pairs_ring_bytes(graph, dw) if pairs else depthwise_ring_bytes(graph, dw)
    in_w = int(graph.tensors[dw.inputs[0]].shape[2])
    _, _, out_w, hidden = (int(d) for d in graph.tensors[dw.outputs[0]].shape)
    expanded_row_offset = _align16(ring) if pairs and o["expand"] is not None else 0
    row_offset = _align16(expanded_row_offset + in_w * hidden) if expanded_row_offset else _align16(ring)
    project_row_offset = _align16(row_offset + (out_w * hidden if project is not None else 0))
    out_c = int(graph.tensors[project.outputs[0]].shape[3]) if project is not None else 0
    q15_offset = _align16(project_row_offset + (out_w * out_c if o["add"] is not None else 0))
    q15 = 4 * round_up4(hidden) if project is not None else 0
    if o["expand"] is not None:
        q15 = max(q15, 4 * round_up4(int(graph.tensors[o["expand"].inputs[0]].shape[3])))
    strips = 0 if pairs else strip_channels(graph, dw, q15)
    end = q15_offset + q15
    if o.get("se_mul") is None:
        return MbconvScratch(ring, row_offset, project_row_offset, q15_offset, end, depthwise_pairs=pairs,
                             expanded_row_offset=expanded_row_offset, strip_channels=strips)
    squeezed = int(graph.tensors[o["se_reduce"].outputs[0]].shape[3])
    sums = _align16(end)
    pooled = _align16(sums + 4 * hidden)
    reduced = _align16(pooled + hidden)
    pre = _align16(reduced + squeezed)
    gate = _align16(pre + hidden) if o["se_gate"] is not None else pre  # a folded LOGISTIC: the conv makes the gate
    return MbconvScratch(ring, row_offset, project_row_offset, q15_offset, gate + hidden, sums, pooled, reduced, pre,
                         gate, pairs, expanded_row_offset, strips)


# Strips pay for widening each input row k_h times and for a call per strip and channel: measured on QEMU (32px-6M,
# instructions per fused block against the int8 tap list), 16 columns at stride 1 gain 3 %; 4 columns, or stride 2
# (twice the columns widened per output), lose 4-6 %.
STRIP_MIN_COLUMNS = 16


def strip_channels(graph: Graph, dw: Operator, q15_bytes: int) -> int:
    """Channels per q15 strip of a fused 3x3 depthwise on its int8 ring (mbconv_fused.c's stage_strips_row): as many
    groups of 4 as k_h strips of th_dwp_ring_width int16 columns fit in the q15 blocks' bytes, at most the
    channels rounded up to 4; 0 (the tap-list row) where not even 4 fit, the pair rows do not take the shape, or
    the strips would not pay (stride 2, fewer than STRIP_MIN_COLUMNS output columns)."""
    w = graph.tensors[dw.inputs[1]]
    if not depthwise_pairs_shape(graph, dw) or dw.options.get("stride_w", 1) != 1 or tuple(w.shape[1:3]) != (3, 3):
        return 0
    _, _, out_w, channels = (int(d) for d in graph.tensors[dw.outputs[0]].shape)
    if out_w < STRIP_MIN_COLUMNS:
        return 0
    strip_bytes = int(w.shape[1]) * depthwise_pairs_ring_width(out_w, int(w.shape[2]), dw.options.get("stride_w", 1)) * 2
    groups = q15_bytes // strip_bytes // 4
    return min(4 * groups, round_up4(channels)) if groups else 0


@dataclass(frozen=True)
class CascadeScratch:
    """A fused block's scratch with its upstream blocks' (a cascade): its own (mbconv_scratch), then the
    upstream block's whole scratch, then the upstream block's one output row."""

    own: MbconvScratch
    upstream_scratch_offset: int  # 0 without an upstream block
    upstream_row_offset: int
    total: int


def cascade_scratch(graph: Graph, op: Operator) -> CascadeScratch:
    own = mbconv_scratch(graph, op)
    upstream = op.options.get("upstream")
    if upstream is None:
        return CascadeScratch(own, 0, 0, own.total)
    up = cascade_scratch(graph, upstream)
    _, _, out_w, out_c = (int(d) for d in graph.tensors[upstream.outputs[0]].shape)
    scratch_offset = _align16(own.total)
    row_offset = _align16(scratch_offset + up.total)
    return CascadeScratch(own, scratch_offset, row_offset, row_offset + out_w * out_c)


def depthwise_ring_bytes(graph: Graph, op: Operator) -> int:
    """k_h zero-point-padded input rows of ((out_w - 1) * stride_w + (k_w - 1) * dil_w + 1) pixels."""
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    o, out_w = op.options, int(graph.tensors[op.outputs[0]].shape[2])
    padded_w = (out_w - 1) * o.get("stride_w", 1) + (int(w.shape[2]) - 1) * o.get("dilation_w", 1) + 1
    return int(w.shape[1]) * padded_w * round_up4(int(x.shape[3]))


PAIRS_MAX_SHIFT = 24  # the folded requantisation's saturating sum is exact up to this right shift


def pairs_folded_requant(multipliers: list[int], shifts: list[int]) -> bool:
    """Whether every channel takes depthwise_conv2d_pairs.c's folded requantisation (lower.depthwise_pairs_records):
    a right shift of 1..PAIRS_MAX_SHIFT and a non-zero multiplier."""
    return all(m != 0 and -PAIRS_MAX_SHIFT <= s <= -1 for m, s in zip(multipliers, shifts))


def folded_requant_of(graph: Graph, op: Operator) -> bool:
    """pairs_folded_requant for a depthwise's scales (its output's, or a folded activation's input's): without it
    the pair kernel runs its portable row, ~10x slower than the tap list. True for a shape-only graph (the cost
    model's), where the kernel choice does not change the memory either way."""
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    table = op.options.get("fused_table")
    y = graph.tensors[table["input"]] if table else graph.tensors[op.outputs[0]]
    if x.quant is None or y.quant is None or w.quant is None:
        return True
    return _folds_requant(x.quant.scale[0], tuple(w.quant.scale), y.quant.scale[0], int(w.shape[3]))


@functools.lru_cache(maxsize=4096)
def _folds_requant(input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int) -> bool:
    """folded_requant_of's answer for these scales, computed once: the planner asks it of each depthwise in every
    plan it tries (NASNetMobile: ~45,000 times)."""
    from .quantize import conv_multipliers

    return pairs_folded_requant(*conv_multipliers(input_scale, filter_scales, output_scale, channels))


TAP_LIST_OPTION = "tap_list_kernel"  # set by the planner on a depthwise whose pair-kernel ring would raise the arena
# set by the planner on a fused block's depthwise that runs on the pair kernel's q15 ring (where it keeps the arena)
FUSED_Q15_RING_OPTION = "fused_q15_ring"


def _pairs_window(graph: Graph, op: Operator) -> tuple[int, int, int, int] | None:
    """(k_h, k_w, stride_w, out_w) of a DEPTHWISE_CONV_2D the pair kernel's q15 ring can hold: 4-D tensors,
    depth multiplier 1, dilation 1 in W; None for any other op."""
    if op.opcode != "DEPTHWISE_CONV_2D":
        return None
    x, w, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    o = op.options
    if not (len(x.shape) == 4 and len(w.shape) == 4 and len(y.shape) == 4 and int(x.shape[3]) == int(y.shape[3])
            and o.get("depth_multiplier", 1) == 1 and o.get("dilation_w", 1) == 1):
        return None
    return int(w.shape[1]), int(w.shape[2]), o.get("stride_w", 1), int(y.shape[2])


# the windows whose hand-scheduled pair loops a fused block's depthwise runs (th_dwp_channels_3x3 / _5x5 / _7x7)
FUSED_PAIRS_WINDOWS = ((3, 3), (5, 5), (7, 7))


def depthwise_pairs_shape(graph: Graph, op: Operator) -> bool:
    """A DEPTHWISE_CONV_2D the q15 ring and 3x3 / 5x5 / 7x7 rows of depthwise_conv2d_pairs.c take in a fused block
    (fused_depthwise_pairs): depth multiplier 1, stride 1 or 2 and dilation 1 in W, a FUSED_PAIRS_WINDOWS window.
    By shape alone, so that the planner (which also plans shape-only graphs) and the lowering agree."""
    window = _pairs_window(graph, op)
    return window is not None and window[:2] in FUSED_PAIRS_WINDOWS and window[2] in (1, 2)


def standalone_pairs_shape(graph: Graph, op: Operator) -> bool:
    """A standalone DEPTHWISE_CONV_2D a th_depthwise_conv2d_pairs_*_s8 variant takes: depth multiplier 1,
    dilation 1 in W, a window and stride in W with a hand-scheduled loop (PAIRS_LOOPS; other windows stay on
    the tap list of depthwise_conv2d.c, faster than the pair steps in C), k x 1 / 1 x k from PAIRS_MIN_OUT_W
    output pixels a row. By shape alone, as depthwise_pairs_shape."""
    window = _pairs_window(graph, op)
    if window is None:
        return False
    k_h, k_w, stride_w, out_w = window
    return stride_w in PAIRS_LOOPS.get((k_h, k_w), ()) and (k_h == k_w or out_w >= PAIRS_MIN_OUT_W)


# the windows (k_h, k_w) depthwise_conv2d_pairs.c has hand-scheduled loops for, and their strides in W
PAIRS_LOOPS = {(3, 3): (1, 2), (5, 5): (1, 2), (7, 7): (1, 2), (1, 3): (1,), (3, 1): (1,), (5, 1): (1,)}
# k x 1 / 1 x k take the pair loops from this output width on: narrower rows pay more per channel row (a call,
# the odd last pixel's partner) than the tap list per pixel (measured on QEMU, 64 channels at 5 px: 1x3 7.16 vs
# 7.10, 3x1 8.44 vs 7.07, 5x1 6.43 vs 5.21 instructions / MAC; 16 channels at 24 px: 5.61 vs 7.67, 6.67 vs 7.65,
# 4.92 vs 5.62)
PAIRS_MIN_OUT_W = 8


def runs_depthwise_pairs(graph: Graph, op: Operator) -> bool:
    """A standalone DEPTHWISE_CONV_2D that a th_depthwise_conv2d_pairs_*_s8 loop runs (standalone_pairs_shape, its
    scales folding into the loop's requantisation: folded_requant_of), unless the planner marked it
    (TAP_LIST_OPTION) because its ring, twice the tap list's, would raise the arena (planner.plan_memory)."""
    return standalone_pairs_shape(graph, op) and not op.options.get(TAP_LIST_OPTION) and folded_requant_of(graph, op)


def fused_depthwise_pairs(graph: Graph, op: Operator) -> bool:
    """A fused block's depthwise that mbconv_fused.c runs on the q15 ring and rows of depthwise_conv2d_pairs.c:
    depthwise_pairs_shape, and chosen by the planner (FUSED_Q15_RING_OPTION) where that keeps the arena;
    else the block's int8 ring (tinyhil_depthwise.h)."""
    return depthwise_pairs_shape(graph, op) and bool(op.options.get(FUSED_Q15_RING_OPTION))


def depthwise_pairs_ring_width(out_w: int, k_w: int, stride_w: int) -> int:
    """Columns per ring row of th_depthwise_conv2d_pairs_s8 (th_dwp_ring_width): the padded input row, or what
    the last two-pixel step reads when out_w is odd, if more; rounded up to even."""
    out_w2 = out_w + out_w % 2
    reach = out_w2 + (k_w | 1) - 1 if stride_w == 1 else 2 * out_w2 + 2 * ((k_w + 1) // 2) - 2
    padded = (out_w - 1) * stride_w + k_w
    width = max(reach, padded)
    return width + width % 2


def depthwise_pairs_ring_bytes(graph: Graph, op: Operator) -> int:
    """k_h rows of in_c x depthwise_pairs_ring_width int16: the input widened to q15 per channel."""
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out_w = int(graph.tensors[op.outputs[0]].shape[2])
    width = depthwise_pairs_ring_width(out_w, int(w.shape[2]), op.options.get("stride_w", 1))
    return int(w.shape[1]) * int(x.shape[3]) * width * 2


def is_pointwise(graph: Graph, op: Operator) -> bool:
    """A CONV_2D that is a plain matrix product over pixels: 1x1, stride 1, no padding."""
    x, w, y = (graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]])
    o = op.options
    return (op.opcode == "CONV_2D" and len(w.shape) == 4 and w.shape[1] == 1 and w.shape[2] == 1
            and o.get("stride_h", 1) == 1 and o.get("stride_w", 1) == 1 and "fused_pad" not in o
            and len(x.shape) == 4 and len(y.shape) == 4 and x.shape[1:3] == y.shape[1:3])


def kernel_scratch_bytes(graph: Graph, op: Operator) -> int:
    """th_conv2d_1x1_s8: q15 blocks of two pixels (4 bytes per padded input channel);
    th_conv2d_im2col_s8: the gathered row plus the q15 blocks of two pixels (5 bytes per padded K);
    th_depthwise_conv2d_s8 (and _inplace_): a ring of k_h zero-point-padded input rows;
    th_depthwise_conv2d_pairs_s8 (and _inplace_): a ring of k_h q15 rows per channel (depthwise_pairs_ring_bytes);
    th_mbconv_fused_s8: mbconv_scratch."""
    if op.opcode == "FUSED_MBCONV":
        return cascade_scratch(graph, op).total
    if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    if len(x.shape) != 4 or len(w.shape) != 4:
        return 0
    if op.opcode == "DEPTHWISE_CONV_2D":
        return depthwise_pairs_ring_bytes(graph, op) if runs_depthwise_pairs(graph, op) else depthwise_ring_bytes(graph, op)
    k_padded = round_up4(int(w.shape[1]) * int(w.shape[2]) * int(w.shape[3]))
    return 4 * k_padded if is_pointwise(graph, op) else 5 * k_padded
