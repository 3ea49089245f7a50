"""The memory planner: no two live tensors overlap, RESHAPE aliases, ADD reuses a dying input,
and it works on shape-only graphs (what the cost model builds before training)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyhil.codegen.ir import Graph, Operator, Tensor
from tinyhil.codegen.planner import ALIGNMENT, plan_memory


def _const(index: int, shape: tuple[int, ...]) -> Tensor:
    return Tensor(index, f"w{index}", shape, "int8", data=np.broadcast_to(np.int8(0), shape))


def _chain(sizes: list[int], add_every: int) -> Graph:
    """A shape-only chain of CONV_2D ops (quantisation None), with an ADD skip every few ops."""
    tensors = [Tensor(0, "x", (1, sizes[0]), "int8")]
    ops: list[Operator] = []
    current = 0
    for k, size in enumerate(sizes[1:], start=1):
        w = _const(len(tensors), (size, 1, 1, 1))
        tensors.append(w)
        out = Tensor(len(tensors), f"a{k}", (1, size), "int8")
        tensors.append(out)
        ops.append(Operator(len(ops), "CONV_2D", (current, w.index, -1), (out.index,)))
        if add_every and k % add_every == 0:
            s = Tensor(len(tensors), f"s{k}", (1, size), "int8")
            tensors.append(s)
            ops.append(Operator(len(ops), "ADD", (out.index, out.index), (s.index,)))
            out = s
        current = out.index
    return Graph(tensors, ops, (0,), (current,))


def _assert_no_overlap(graph: Graph) -> None:
    plan = plan_memory(graph)
    ids = [t.index for t in graph.activations()]
    for a in ids:
        assert plan.offsets[a] % ALIGNMENT == 0
        assert plan.offsets[a] + graph.tensors[a].nbytes <= plan.arena_bytes
        for b in ids:
            if a >= b or plan.aliases.get(a, a) == plan.aliases.get(b, b):
                continue
            (fa, la), (fb, lb) = plan.lifetimes[a], plan.lifetimes[b]
            if fa <= lb and fb <= la:  # both alive at once
                ra = range(plan.offsets[a], plan.offsets[a] + graph.tensors[a].nbytes)
                rb = range(plan.offsets[b], plan.offsets[b] + graph.tensors[b].nbytes)
                assert not set(ra) & set(rb), (a, b)
    assert plan.arena_bytes >= plan.peak_live_bytes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=2, max_size=12), st.integers(0, 3))
def test_live_tensors_never_share_bytes(sizes: list[int], add_every: int) -> None:
    _assert_no_overlap(_chain(sizes, add_every))


def test_a_chain_needs_only_two_buffers() -> None:
    plan = plan_memory(_chain([1000, 1000, 1000, 1000], add_every=0))
    assert plan.arena_bytes == 2 * 1008  # 1000 rounded up to 16-byte alignment
    assert plan.live_bytes_per_op == [2000, 2000, 2000]
    assert plan.scratch_bytes == 0


def test_add_writes_over_an_input_that_dies_there() -> None:
    graph = _chain([64, 64], add_every=1)
    plan = plan_memory(graph)
    conv_out, add_out = graph.operators[1].inputs[0], graph.operators[1].outputs[0]
    assert plan.offsets[conv_out] == plan.offsets[add_out]


def test_placing_computes_the_lifetimes_twice_not_once_per_op_that_may_run_in_place(monkeypatch) -> None:
    """Each ADD (a candidate to write over its input) used to recompute every lifetime: quadratic in the ops, and
    the fusion search places a graph hundreds of times (NASNetMobile at 32 px: 2 minutes to plan). Merging a buffer
    now extends the lifetime it keeps; the plan is the same (every ADD over its dying input, the live bytes as
    summed per op)."""
    from tinyhil.codegen import planner

    calls = []
    real = planner._lifetimes
    monkeypatch.setattr(planner, "_lifetimes", lambda *args: calls.append(1) or real(*args))
    graph = _chain([16 * (1 + k % 3) for k in range(121)], add_every=1)  # 120 convs, each followed by an ADD
    plan = plan_memory(graph, fusion="off")
    assert len(calls) == 2
    adds = [op for op in graph.operators if op.opcode == "ADD"]
    assert len(adds) == 120 and all(plan.offsets[op.inputs[0]] == plan.offsets[op.outputs[0]] for op in adds)
    assert all(plan.modes[op.index] == "in place" for op in adds)
    for i in range(len(graph.operators)):
        alive = {plan.aliases.get(t, t) for t, (first, last) in plan.lifetimes.items() if first <= i <= last}
        assert plan.live_bytes_per_op[i] == sum(max(graph.tensors[t].nbytes for t in plan.lifetimes
                                                    if plan.aliases.get(t, t) == root) for root in alive)


def test_reshape_aliases_its_input() -> None:
    tensors = [Tensor(0, "x", (1, 2, 2, 4), "int8"), Tensor(1, "shape", (2,), "int32", data=np.array([1, 16])),
               Tensor(2, "y", (1, 16), "int8")]
    graph = Graph(tensors, [Operator(0, "RESHAPE", (0, 1), (2,))], (0,), (2,))
    plan = plan_memory(graph)
    assert plan.offsets[0] == plan.offsets[2] and plan.arena_bytes == 16


def test_a_pad_feeding_a_conv_is_folded_into_it_and_needs_no_buffer() -> None:
    tensors = [Tensor(0, "x", (1, 8, 8, 4), "int8"),
               Tensor(1, "paddings", (4, 2), "int32", data=np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)),
               Tensor(2, "padded", (1, 10, 10, 4), "int8"),
               _const(3, (1, 3, 3, 4)),
               Tensor(4, "y", (1, 4, 4, 4), "int8")]
    ops = [Operator(0, "PAD", (0, 1), (2,)),
           Operator(1, "DEPTHWISE_CONV_2D", (2, 3, -1), (4,), {"stride_h": 2, "stride_w": 2})]
    plan = plan_memory(Graph(tensors, ops, (0,), (4,)))
    assert 2 not in plan.offsets  # the padded copy never exists
    # input + output + the kernel's ring of 3 zero-point-padded rows (3 x 9 pixels x 4 channels, aligned): the
    # tap list, as the pair kernel's ring (3 x 4 channels x 10 columns x 2 bytes) would raise the arena
    assert list(plan.scratch_sizes.values()) == [3 * 9 * 4]
    assert plan.arena_bytes == 256 + 64 + 112


def test_the_pair_kernel_runs_where_its_ring_stays_under_the_arena_and_not_where_it_would_raise_it() -> None:
    from dataclasses import replace

    from tinyhil.codegen.reader import read_tflite
    from tinyhil.codegen.scratch import TAP_LIST_OPTION, depthwise_pairs_ring_bytes, runs_depthwise_pairs

    from .depthwise_chains import Depthwise, depthwise_chain

    # a 24x24x8 map, then at stride 2 12x12 and 6x6: the first depthwise sets the peak (its ring on top of
    # two 4.5 KB tensors), the later ones' rings fit under it
    graph = read_tflite(depthwise_chain((Depthwise(3, 3, 2), Depthwise(3, 3), Depthwise(3, 3, 2), Depthwise(3, 3)),
                                        24, 24, 8, seed=0))
    plan = plan_memory(graph)
    runs = [runs_depthwise_pairs(plan.graph, op) for op in plan.graph.operators]
    assert runs == [False, True, True, True]
    tap_list = replace(graph, operators=[replace(op, options={**op.options, TAP_LIST_OPTION: True})
                                         for op in graph.operators])
    assert plan.arena_bytes == plan_memory(tap_list).arena_bytes  # the pair kernel costs no arena
    assert plan.scratch_sizes[0] < depthwise_pairs_ring_bytes(plan.graph, plan.graph.operators[0])
