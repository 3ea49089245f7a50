"""Graph rewrites that save arena memory without changing a single output bit.

PAD -> CONV_2D / DEPTHWISE_CONV_2D: a padded element equals the input zero point, and the conv
kernels add (x - zero_point) * w, so padding contributes exactly 0, as does skipping it. The
conv therefore reads the unpadded tensor with a larger top/left padding, and the padded copy
(often the biggest buffer of a MobileNetV2 block) never exists.

CONV_2D / DEPTHWISE_CONV_2D -> LEAKY_RELU / HARD_SWISH / LOGISTIC: the activation of an int8 tensor is
a function of each int8 element, so the conv applies its 256-entry table (tables.py) to each output
row or pixel it has just written: the same bytes, one pass over the tensor less, and no activation op
between a block's convs (so the fused inverted-residual blocks below also cover the paper's
LeakyReLU / hard-swish blocks). Swish written as x * sigmoid(x) (LOGISTIC -> MUL) is first one SWISH
op, a function of each element too, so it folds the same way."""

from __future__ import annotations

import dataclasses

import numpy as np

from .ir import Graph, Operator
from .rewrites import FLOAT_UNARY

_CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D"}


def _consumers(graph: Graph, tensor: int) -> list[Operator]:
    return [op for op in graph.operators if tensor in op.inputs]


def _spatial_pads(graph: Graph, pad: Operator) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) when the PAD pads only H and W of a 4-D tensor with its zero point."""
    if len(pad.inputs) != 2 or pad.inputs[1] < 0:
        return None
    paddings = graph.tensor(pad.inputs[1]).data
    x, y = graph.tensor(pad.inputs[0]), graph.tensor(pad.outputs[0])
    if paddings is None or len(x.shape) != 4 or x.quant != y.quant:
        return None
    p = np.asarray(paddings).reshape(-1, 2)
    if p.shape != (4, 2) or p[0].any() or p[3].any():
        return None
    return int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])


def _rewritten(graph: Graph, removed: set[int], rewired: dict[int, Operator]) -> Graph:
    """`graph` without the `removed` operators, the `rewired` ones in their place, renumbered in schedule order."""
    if not removed:
        return graph
    return graph.with_operators([rewired.get(op.index, op) for op in graph.operators if op.index not in removed])


def fuse_pads(graph: Graph) -> Graph:
    """A new Graph where each PAD feeding only a conv is folded into that conv's `fused_pad` option."""
    removed: set[int] = set()
    rewired: dict[int, Operator] = {}
    for pad in graph.operators:
        if pad.opcode != "PAD" or pad.outputs[0] in graph.outputs:
            continue
        pads = _spatial_pads(graph, pad)
        users = _consumers(graph, pad.outputs[0])
        if pads is None or len(users) != 1 or users[0].opcode not in _CONVS or users[0].inputs[0] != pad.outputs[0]:
            continue
        conv = rewired.get(users[0].index, users[0])
        if "fused_pad" in conv.options:
            continue
        options = {**conv.options, "fused_pad": pads}
        rewired[conv.index] = dataclasses.replace(conv, inputs=(pad.inputs[0],) + conv.inputs[1:], options=options)
        removed.add(pad.index)
    return _rewritten(graph, removed, rewired)


SWISH = "SWISH"  # tinyhil's own operator, never in a .tflite: LOGISTIC then MUL by the same tensor
# elementwise int8 -> int8: a 256-entry table
TABLE_ACTIVATIONS = ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", SWISH, "RELU", "RELU6", "QUANTIZE", "TANH", "ELU",
                     "RSQRT", FLOAT_UNARY)


def fuse_swish(graph: Graph) -> Graph:
    """A new Graph where each x * sigmoid(x) the converter wrote as LOGISTIC(x) -> MUL(x, sigmoid) (either
    operand order, the sigmoid read by the MUL alone) is one SWISH op at the MUL's place, its options the two
    original operators: the sigmoid tensor (as big as x) never exists."""
    logistic_of = {op.outputs[0]: op for op in graph.operators if op.opcode == "LOGISTIC"}
    removed: set[int] = set()
    rewired: dict[int, Operator] = {}
    for mul in graph.operators:
        if mul.opcode != "MUL" or len(mul.inputs) != 2:
            continue
        for x, s in (mul.inputs, mul.inputs[::-1]):
            logistic = logistic_of.get(s)
            if (logistic is not None and logistic.inputs[0] == x and s not in graph.outputs
                    and graph.tensor(x).shape == graph.tensor(s).shape == graph.tensor(mul.outputs[0]).shape
                    and len(_consumers(graph, s)) == 1):
                rewired[mul.index] = Operator(mul.index, SWISH, (x,), mul.outputs, {"logistic": logistic, "mul": mul})
                removed.add(logistic.index)
                break
    return _rewritten(graph, removed, rewired)


def fuse_activations(graph: Graph) -> Graph:
    """A new Graph where each table activation whose input is a conv's output, read by it alone, is folded
    into that conv: the conv writes the activation's output tensor, and its `fused_table` option keeps
    what the lowering needs, {"opcode", "options", "input"} (the conv's own output tensor, whose
    quantisation its requantisation targets and the table reads)."""
    producers = {op.outputs[0]: op for op in graph.operators if op.opcode in _CONVS}
    removed: set[int] = set()
    rewired: dict[int, Operator] = {}
    for act in graph.operators:
        if act.opcode not in TABLE_ACTIVATIONS:
            continue
        conv = producers.get(act.inputs[0])
        if (conv is None or conv.index in rewired or act.inputs[0] in graph.outputs
                or len(_consumers(graph, act.inputs[0])) != 1):
            continue
        fused = {"opcode": act.opcode, "options": dict(act.options), "input": act.inputs[0]}
        rewired[conv.index] = dataclasses.replace(conv, outputs=(act.outputs[0],) + conv.outputs[1:],
                                                  options={**conv.options, "fused_table": fused})
        removed.add(act.index)
    return _rewritten(graph, removed, rewired)


# --- fused inverted-residual blocks -------------------------------------------------------------
# An MBConv block (1x1 expand -> depthwise -> 1x1 project [-> ADD]) or a depthwise-separable one
# (depthwise -> 1x1 project [-> ADD]) can run as one FUSED_MBCONV operator (mbconv_fused.c) that
# computes the expanded tensor a few rows at a time: the intermediate tensors never exist whole.
# A block with squeeze-excitation after its depthwise runs in two passes (the first only pools the
# depthwise output, the second recomputes the rows, scales them by the gate and projects them).
# Which chains run fused is the planner's decision (planner.plan_memory); this module only finds
# the chains that can and rewrites the graph for a chosen set.

FUSED_MBCONV = "FUSED_MBCONV"  # tinyhil's own operator, never in a .tflite


# elementwise activations the fused kernel runs per row (th_fused_activation), between its convolutions
FUSED_ACTIVATIONS = ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC")
CHAIN_ROLES = ("expand", "expand_act", "depthwise", "depthwise_act", "se_mean", "se_reduce", "se_expand", "se_gate",
               "se_mul", "project", "add")
SE_ROLES = CHAIN_ROLES[4:9]  # squeeze-excitation: MEAN -> 1x1 CONV -> 1x1 CONV -> LOGISTIC -> MUL


@dataclasses.dataclass(frozen=True)
class MbconvChain:
    """Operator indices (in the graph the chain was found in) of one fusable block, None where absent."""

    expand: int | None
    expand_act: int | None
    depthwise: int
    depthwise_act: int | None
    se_mean: int | None
    se_reduce: int | None
    se_expand: int | None
    se_gate: int | None
    se_mul: int | None
    project: int | None
    add: int | None

    @property
    def ops(self) -> tuple[int, ...]:
        return tuple(i for i in (getattr(self, role) for role in CHAIN_ROLES) if i is not None)


def _is_pointwise(graph: Graph, op: Operator) -> bool:
    from .lower import pointwise_folds_offset  # the lowering's own test: the 1x1 fast path applies
    from .scratch import is_pointwise

    return op.opcode == "CONV_2D" and is_pointwise(graph, op) and pointwise_folds_offset(graph, op)


def _only_consumer(graph: Graph, tensor: int, opcodes: tuple[str, ...]) -> Operator | None:
    """The one operator reading `tensor` (as its activation input, for a conv), if it is one of `opcodes`."""
    if tensor in graph.outputs:
        return None
    users = _consumers(graph, tensor)
    if len(users) != 1 or users[0].opcode not in opcodes:
        return None
    if users[0].opcode != "ADD" and users[0].inputs[0] != tensor:  # a conv reading it as a weight
        return None
    return users[0]


def _activation(graph: Graph, op: Operator | None) -> bool:
    if op is None or op.opcode not in FUSED_ACTIVATIONS:
        return False
    return graph.tensor(op.inputs[0]).shape == graph.tensor(op.outputs[0]).shape


def _ring_depthwise(graph: Graph, op: Operator) -> bool:
    """The depthwise forms the fused kernel runs: batch 1, multiplier 1, dilation 1 in H, at most
    16 rows, and every window reaching at least its own output row (pad_h < k_h: in place is legal)."""
    from .scratch import depthwise_pad_h

    if op.opcode != "DEPTHWISE_CONV_2D" or len(op.inputs) < 2:
        return False
    x, w, y = (graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0]))
    o = op.options
    return (len(x.shape) == 4 and len(y.shape) == 4 and len(w.shape) == 4
            and x.shape[0] == 1 and x.shape[3] == y.shape[3] and o.get("depth_multiplier", 1) == 1
            and o.get("dilation_h", 1) == 1 and int(w.shape[1]) <= 16
            and depthwise_pad_h(graph, op) < int(w.shape[1]))


def _squeeze_excitation(graph: Graph, x: int) -> tuple[Operator, ...] | None:
    """(MEAN, reduce CONV, expand CONV, LOGISTIC, MUL) when tensor x feeds exactly a squeeze-excitation:
    x -> MEAN -> 1x1 conv -> 1x1 conv -> LOGISTIC -> MUL(x, gate), nothing else reading any of them;
    LOGISTIC None where fuse_activations folded it into the second conv."""
    if x in graph.outputs:
        return None
    users = _consumers(graph, x)
    mean = next((op for op in users if op.opcode == "MEAN"), None)
    mul = next((op for op in users if op.opcode == "MUL"), None)
    if len(users) != 2 or mean is None or mul is None or mean.inputs[0] != x:
        return None
    channels = graph.tensor(x).shape[-1]
    if graph.tensor(mean.outputs[0]).shape != (1, 1, 1, channels):
        return None
    reduce = _only_consumer(graph, mean.outputs[0], ("CONV_2D",))
    expand = _only_consumer(graph, reduce.outputs[0], ("CONV_2D",)) if reduce is not None else None
    if expand is None or not _is_pointwise(graph, reduce) or not _is_pointwise(graph, expand):
        return None
    folded = expand.options.get("fused_table", {}).get("opcode") == "LOGISTIC"  # fuse_activations folded it
    gate = None if folded else _only_consumer(graph, expand.outputs[0], ("LOGISTIC",))
    gate_out = expand.outputs[0] if folded else gate.outputs[0] if gate is not None else None
    if (gate_out is None or _consumers(graph, gate_out) != [mul] or sorted(mul.inputs) != sorted((x, gate_out))
            or graph.tensor(gate_out).shape != (1, 1, 1, channels)
            or graph.tensor(mul.outputs[0]).shape != graph.tensor(x).shape):
        return None
    return mean, reduce, expand, gate, mul


def mbconv_chains(graph: Graph) -> list[MbconvChain]:
    """Every block of `graph` (after fuse_pads) that FUSED_MBCONV can run, in schedule order: around each
    depthwise, a 1x1 expansion before it and a 1x1 projection (+ residual ADD) after it where they are
    there alone (each intermediate tensor read by the next op only), with an elementwise activation op
    after either conv allowed; at least an expansion or a projection. A block with squeeze-excitation
    gives two overlapping chains: all of it in two passes, and its part up to the depthwise; the
    planner picks at most one."""
    producer = {t: op for op in graph.operators for t in op.outputs}
    chains = []
    for dw in graph.operators:
        if not _ring_depthwise(graph, dw):
            continue
        expand_act = producer.get(dw.inputs[0])
        if not (_activation(graph, expand_act) and _only_consumer(graph, expand_act.outputs[0], ("DEPTHWISE_CONV_2D",))):
            expand_act = None
        expand = producer.get((expand_act or dw).inputs[0])
        if (expand is None or not _is_pointwise(graph, expand)
                or _only_consumer(graph, expand.outputs[0], ((expand_act or dw).opcode,)) is None):
            expand, expand_act = None, None
        tail = dw
        depthwise_act = _only_consumer(graph, dw.outputs[0], FUSED_ACTIVATIONS)
        if _activation(graph, depthwise_act):
            tail = depthwise_act
        else:
            depthwise_act = None
        se = _squeeze_excitation(graph, tail.outputs[0])
        if se is not None:
            tail = se[-1]
        project = _only_consumer(graph, tail.outputs[0], ("CONV_2D",))
        if project is not None and not _is_pointwise(graph, project):
            project = None
        add = _only_consumer(graph, project.outputs[0], ("ADD",)) if project is not None else None
        if add is not None:
            a, b = (graph.tensor(t) for t in add.inputs)
            if a.shape != b.shape or a.shape != graph.tensor(add.outputs[0]).shape or add.inputs[0] == add.inputs[1]:
                add = None
        ends = [(se, project, add)] if se is None or project is not None else []
        if se is not None and expand is not None:  # the alternative: fused up to the depthwise, SE and the
            ends.append((None, None, None))          # projection plain (it can feed a cascade; no second pass)
        for se_ops, project_op, add_op in ends:
            if expand is None and project_op is None:
                continue
            chains.append(MbconvChain(*(op.index if op is not None else None
                                        for op in (expand, expand_act, dw, depthwise_act, *(se_ops or (None,) * 5),
                                                   project_op, add_op))))
    return chains


def fuse_mbconv(graph: Graph, chains: list[MbconvChain]) -> tuple[Graph, list[tuple[int, ...]]]:
    """A new Graph where each chain is one FUSED_MBCONV operator at its last op's place (its block input
    and residual operand are computed before that), and for each new operator the indices of the
    operators of `graph` it runs."""
    if not chains:
        return graph, [(op.index,) for op in graph.operators]
    by_last = {chain.ops[-1]: chain for chain in chains}
    inside = {i for chain in chains for i in chain.ops}
    operators: list[Operator] = []
    origin: list[tuple[int, ...]] = []
    for op in graph.operators:
        if op.index not in inside:  # (the constructor: dataclasses.replace took half the fusion search's time)
            operators.append(Operator(len(operators), op.opcode, op.inputs, op.outputs, op.options))
            origin.append((op.index,))
            continue
        chain = by_last.get(op.index)
        if chain is None:
            continue
        parts = {role: graph.operators[getattr(chain, role)] if getattr(chain, role) is not None else None
                 for role in CHAIN_ROLES}
        inputs: tuple[int, ...] = (graph.operators[chain.ops[0]].inputs[0],)
        add = parts["add"]
        if add is not None:
            project_out = parts["project"].outputs[0]
            inputs += (add.inputs[1] if add.inputs[0] == project_out else add.inputs[0],)
        output = graph.operators[chain.ops[-1]].outputs[0]
        operators.append(Operator(len(operators), FUSED_MBCONV, inputs, (output,), parts))
        origin.append(chain.ops)
    return dataclasses.replace(graph, operators=operators), origin


def _upstream_depth(op: Operator) -> int:
    return 1 + (_upstream_depth(op.options["upstream"]) if op.options.get("upstream") is not None else 0)


MAX_CASCADE = 4  # fused blocks in one cascade (TH_MAX_CASCADE in mbconv_fused.c)


def cascade_pairs(graph: Graph) -> list[tuple[int, int]]:
    """(a, b): fused blocks where b reads a's output and nothing else does, so a can make its rows as b
    needs them (a cascade) and the tensor between them never exists. b must have no residual (it would
    need its input's rows again) and be at most MAX_CASCADE blocks deep with a; a has no squeeze-
    excitation (b may: then its first pass runs the blocks before it too, and its second again)."""
    pairs = []
    for b in graph.operators:
        if b.opcode != FUSED_MBCONV or b.options["add"] is not None:
            continue
        producer = [op for op in graph.operators if b.inputs[0] in op.outputs]
        if len(producer) != 1 or producer[0].opcode != FUSED_MBCONV:
            continue
        a = producer[0]
        if a.options["se_mul"] is not None:  # its rows come after a whole first pass: not on demand
            continue
        if (b.inputs[0] in graph.outputs or len(_consumers(graph, b.inputs[0])) != 1
                or _upstream_depth(a) + _upstream_depth(b) > MAX_CASCADE):
            continue
        pairs.append((a.index, b.index))
    return pairs


def cascade(graph: Graph, pairs: list[tuple[int, int]], origin: list[tuple[int, ...]]
            ) -> tuple[Graph, list[tuple[int, ...]]]:
    """A new Graph where, for each (a, b), b runs a as its upstream block (b's input and skip become a's) and
    a is gone; `origin` (per op of `graph`, the source ops it runs) is carried along."""
    merged = dict(pairs)  # a -> b
    into = {b: a for a, b in pairs}
    ops = {op.index: op for op in graph.operators}

    def with_upstream(b: Operator) -> tuple[Operator, tuple[int, ...]]:
        a = into.get(b.index)
        if a is None:
            return b, origin[b.index]
        upstream, up_origin = with_upstream(ops[a])
        return (dataclasses.replace(b, inputs=upstream.inputs, options={**b.options, "upstream": upstream}),
                up_origin + origin[b.index])

    operators: list[Operator] = []
    new_origin: list[tuple[int, ...]] = []
    for op in graph.operators:
        if op.index in merged:
            continue
        op, source = with_upstream(op)
        operators.append(dataclasses.replace(op, index=len(operators)))
        new_origin.append(source)
    return dataclasses.replace(graph, operators=operators), new_origin
