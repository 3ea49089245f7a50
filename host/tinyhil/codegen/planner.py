"""Static memory plan: activation lifetimes over the schedule, one arena, greedy placement by size
(as TFLM's GreedyMemoryPlanner), each kernel's scratch buffer alive during its op only (scratch.py),
plus in-place reuse where legal: RESHAPE aliases its input; an elementwise op (ADD, MUL, including
squeeze-excitation's broadcast MUL over its big input, and the activations LEAKY_RELU, HARD_SWISH,
LOGISTIC) writes over a same-sized input whose lifetime ends there, so an activation never needs a
second copy of its tensor; and a stride-1 depthwise conv writes over an input that dies there,
keeping the rows it still needs in a small scratch ring.

Works on any Graph, including shape-only graphs built by the cost model before training."""

from __future__ import annotations

from dataclasses import dataclass, field

from .fuse import fuse_pads
from .ir import Graph, Operator
from .scratch import kernel_scratch_bytes

ALIGNMENT = 16  # bytes; every buffer starts on a 16-byte boundary of the 16-byte aligned arena
_ALIASING_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
_IN_PLACE_OPS = {"ADD", "MUL", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC"}  # output[i] depends on input[i] only


@dataclass
class MemoryPlan:
    arena_bytes: int
    offsets: dict[int, int]  # tensor index -> byte offset in the arena
    scratch_bytes: int  # the largest per-op scratch buffer (depthwise row rings, conv q15 / im2col rows; each lives during its op)
    live_bytes_per_op: list[int]  # bytes of activations alive while each operator runs
    lifetimes: dict[int, tuple[int, int]] = field(default_factory=dict)  # tensor -> (first op, last op)
    aliases: dict[int, int] = field(default_factory=dict)  # tensor -> tensor whose bytes it reuses
    in_place_ops: set[int] = field(default_factory=set)  # depthwise ops that write over their input
    scratch_offsets: dict[int, int] = field(default_factory=dict)  # op index -> its scratch buffer's offset
    scratch_sizes: dict[int, int] = field(default_factory=dict)  # op index -> its scratch buffer's bytes

    @property
    def peak_live_bytes(self) -> int:
        return max(self.live_bytes_per_op, default=0)


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


class _Groups:
    """Union-find over tensors that share one buffer."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, keep: int, other: int) -> None:
        self.parent[self.find(other)] = self.find(keep)


def _activation_ids(graph: Graph) -> list[int]:
    used = set(graph.inputs) | set(graph.outputs)
    for op in graph.operators:
        used.update(i for i in op.inputs + op.outputs if i >= 0)
    return sorted(i for i in used if not graph.tensors[i].is_constant)


def _lifetimes(graph: Graph, groups: _Groups, ids: list[int]) -> dict[int, list[int]]:
    last_op = len(graph.operators)
    spans: dict[int, list[int]] = {}

    def touch(t: int, at: int) -> None:
        root = groups.find(t)
        span = spans.setdefault(root, [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)

    for t in ids:
        if t in graph.inputs:
            touch(t, -1)  # written by the caller before the first operator
        if t in graph.outputs:
            touch(t, last_op)  # read by the caller after the last operator
    for op in graph.operators:
        for t in op.inputs + op.outputs:
            if t >= 0 and not graph.tensors[t].is_constant:
                touch(t, op.index)
    return spans


def _can_run_depthwise_in_place(graph: Graph, op: Operator) -> bool:
    """th_depthwise_conv2d_inplace_s8: stride 1 and dilation 1 in H, output shape == input shape."""
    o = op.options
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    w = graph.tensors[op.inputs[1]]
    return not (op.opcode != "DEPTHWISE_CONV_2D" or "fused_pad" in o or x.shape != y.shape or len(x.shape) != 4
                or o.get("stride_h", 1) != 1 or o.get("dilation_h", 1) != 1 or len(w.shape) != 4 or w.shape[1] > 16)


def plan_memory(graph: Graph) -> MemoryPlan:
    """Plan the arena for `graph` after the bit-exact rewrites of fuse.py (the code generator runs the
    same rewrites, so the cost model and the generated C agree on the arena)."""
    graph = fuse_pads(graph)
    ids = _activation_ids(graph)
    groups = _Groups()
    for t in ids:
        groups.find(t)
    for op in graph.operators:
        if op.opcode in _ALIASING_OPS:
            groups.union(op.inputs[0], op.outputs[0])
    in_place: set[int] = set()
    scratch: dict[int, int] = {}
    for op in graph.operators:
        if op.opcode not in _IN_PLACE_OPS and op.opcode != "DEPTHWISE_CONV_2D":
            continue
        spans = _lifetimes(graph, groups, ids)
        out = op.outputs[0]
        if op.opcode == "DEPTHWISE_CONV_2D":
            root = groups.find(op.inputs[0])
            if (_can_run_depthwise_in_place(graph, op) and spans[root][1] == op.index
                    and op.inputs[0] not in graph.outputs):
                groups.union(op.inputs[0], out)
                in_place.add(op.index)
            continue
        out_bytes = graph.tensors[out].nbytes
        for candidate in op.inputs:
            if candidate < 0 or graph.tensors[candidate].is_constant:
                continue
            root = groups.find(candidate)
            same_size = graph.tensors[candidate].nbytes == out_bytes
            if same_size and spans[root][1] == op.index and root != groups.find(out):
                groups.union(candidate, out)
                break
    for op in graph.operators:
        need = kernel_scratch_bytes(graph, op)
        if need:
            scratch[op.index] = need
    spans = _lifetimes(graph, groups, ids)
    items: dict[tuple[str, int], tuple[int, int, int]] = {}  # key -> (bytes, first op, last op)
    for t in ids:
        root = groups.find(t)
        size = max(items.get(("t", root), (0,))[0], graph.tensors[t].nbytes)
        items[("t", root)] = (size, spans[root][0], spans[root][1])
    for op_index, size in scratch.items():
        items[("s", op_index)] = (size, op_index, op_index)

    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    offsets: dict[tuple[str, int], int] = {}
    for key in sorted(items, key=lambda k: (-items[k][0], items[k][1], k)):
        size, first, last = items[key]
        size = _align(size)
        conflicts = sorted((o, s) for o, s, f, l in placed if f <= last and first <= l)
        offset = 0
        for o, s in conflicts:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed.append((offset, size, first, last))
        offsets[key] = offset
    arena = max((o + s for o, s, _, _ in placed), default=0)
    live = [sum(size for size, first, last in items.values() if first <= i <= last)
            for i in range(len(graph.operators))]
    return MemoryPlan(arena_bytes=arena,
                      offsets={t: offsets[("t", groups.find(t))] for t in ids},
                      scratch_bytes=max(scratch.values(), default=0),
                      live_bytes_per_op=live,
                      lifetimes={t: tuple(spans[groups.find(t)]) for t in ids},
                      aliases={t: groups.find(t) for t in ids if groups.find(t) != t},
                      in_place_ops=in_place,
                      scratch_offsets={i: offsets[("s", i)] for i in scratch},
                      scratch_sizes=dict(scratch))
