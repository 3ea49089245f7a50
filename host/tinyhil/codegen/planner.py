"""Static memory plan: activation lifetimes over the schedule, one arena, greedy placement by size
(as TFLM's GreedyMemoryPlanner), each kernel's scratch buffer alive during its op only (scratch.py),
plus in-place reuse where legal: RESHAPE aliases its input; an elementwise op (ADD, MUL, including
squeeze-excitation's broadcast MUL over its big input, and the activations LEAKY_RELU, HARD_SWISH,
LOGISTIC) writes over a same-sized input whose lifetime ends there, so an activation never needs a
second copy of its tensor; and a stride-1 depthwise conv writes over an input that dies there,
keeping the rows it still needs in a small scratch ring.
Fused inverted-residual blocks (fuse.py, mbconv_fused.c) are chosen here, where they lower the peak,
and a stride-1 fused block writes over its input when the input dies there.

Works on any Graph, including shape-only graphs built by the cost model before training."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from ..errors import ModelError
from .fuse import (FUSED_MBCONV, MAX_CASCADE, TABLE_ACTIVATIONS, MbconvChain, cascade, cascade_pairs, fuse_activations,
                   fuse_mbconv, fuse_pads, fuse_swish, mbconv_chains)
from .rewrites import depthwise_single_channel_as_conv, grouped_conv_as_groups, split_as_slices
from .ir import Graph, Operator
from .scratch import (FUSED_Q15_RING_OPTION, TAP_LIST_OPTION, depthwise_pairs_ring_bytes, depthwise_pairs_shape,
                      depthwise_ring_bytes, folded_requant_of, kernel_scratch_bytes, runs_depthwise_pairs)

ALIGNMENT = 16  # bytes; every buffer starts on a 16-byte boundary of the 16-byte aligned arena
_ALIASING_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
# the stack th_mbconv_fused_s8 needs beyond the plain kernels' (measured on QEMU, benchmarks/runtime.py's fusion
# table: painted stack high-water 564-656 B with every block plain, 1,776-1,864 B with blocks fused; 1,208 at most)
FUSED_KERNEL_EXTRA_STACK_BYTES = 1216
# output[i] depends on input[i] only
_IN_PLACE_OPS = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "PRELU", *TABLE_ACTIVATIONS}
EXECUTION_MODES = ("plain", "fused band", "fused band, in place", "fused band, SE in two passes",
                   "fused band, SE in two passes, in place", "fused band, cascade", "in place", "alias")
# auto: fuse the blocks at the peak while that lowers it; off: every block plain; all: every fusable block
# fused (to measure fusion's instruction overhead, and to test it); fit: the fastest plan whose arena fits a
# given limit (the board's SRAM budget less the firmware's other RAM): plain if it fits, fused only as far as needed
FUSION_MODES = ("auto", "off", "all", "fit")


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
    graph: Graph | None = None  # the schedule planned: the input graph after fuse.py's rewrites (PADs folded, fused blocks)
    origin: list[tuple[int, ...]] = field(default_factory=list)  # per planned op: the source ops (after fuse_pads, fuse_activations) it runs
    modes: dict[int, str] = field(default_factory=dict)  # per planned op: its execution mode (EXECUTION_MODES)
    unfused_arena_bytes: int = 0  # the arena the same graph needs with every block plain (fusion=False)

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


def _can_run_fused_in_place(graph: Graph, op: Operator) -> bool:
    """th_mbconv_fused_s8 over its input: stride 1 in H, output shape == input shape (fuse.py already
    requires every window to reach its own output row)."""
    if op.options.get("upstream") is not None:  # a cascade's input is read by its first block, far ahead
        return False
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    return op.options["depthwise"].options.get("stride_h", 1) == 1 and x.shape == y.shape and x.dtype == y.dtype


Cascade = tuple[MbconvChain, MbconvChain]  # (upstream block, downstream block), fuse.cascade
# the most MACs fused execution may recompute, as a share of the graph's: squeeze-excitation in two passes
# makes its block's expansion and depthwise (and those of the blocks cascaded into it) twice
RECOMPUTE_MAC_BUDGET = 0.10


def _conv_macs(graph: Graph, op: Operator | None) -> int:
    if op is None or op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    w = graph.tensors[op.inputs[1]].shape
    per_output = int(w[1]) * int(w[2]) * (1 if op.opcode == "DEPTHWISE_CONV_2D" else int(w[3]))
    return graph.tensors[op.outputs[0]].num_elements * per_output


def _first_pass_macs(graph: Graph, op: Operator) -> int:
    """MACs a fused block makes before its squeeze-excitation, with its upstream blocks'."""
    o = op.options
    up = o.get("upstream")
    own = sum(_conv_macs(graph, o[role]) for role in ("expand", "depthwise"))
    if up is not None:
        own += _first_pass_macs(graph, up) + sum(_conv_macs(graph, up.options[r]) for r in ("project",))
    return own


def recompute_macs(plan: MemoryPlan) -> int:
    """MACs the plan's fused blocks compute twice (squeeze-excitation's first pass)."""
    graph = plan.graph
    return sum(_first_pass_macs(graph, op) for op in graph.operators
               if op.opcode == FUSED_MBCONV and op.options.get("se_mul") is not None) if graph else 0


def _graph_macs(graph: Graph) -> int:
    return sum(_conv_macs(graph, op) for op in graph.operators)


def _build(graph: Graph, chosen: list[MbconvChain], cascades: list[Cascade]) -> MemoryPlan:
    """The plan of `graph` with the chosen blocks fused and the chosen pairs of them cascaded."""
    fused, origin = fuse_mbconv(graph, chosen)
    if cascades:
        index = {source: i for i, source in enumerate(origin)}
        fused, origin = cascade(fused, [(index[a.ops], index[b.ops]) for a, b in cascades], origin)
    plan = _place(fused)
    plan.graph, plan.origin = fused, origin
    return plan


def _cascade_length(cascades: list[Cascade]) -> int:
    """Blocks in the longest cascade the pairs make."""
    after = {a: b for a, b in cascades}
    starts = set(after) - {b for _, b in cascades}
    longest = 1
    for start in starts:
        n, block = 1, start
        while block in after:
            block, n = after[block], n + 1
        longest = max(longest, n)
    return longest


def _cascade_candidates(graph: Graph, chosen: list[MbconvChain], cascades: list[Cascade]) -> list[Cascade]:
    fused, origin = fuse_mbconv(graph, chosen)
    chain_of = {chain.ops: chain for chain in chosen}
    pairs = [(chain_of[origin[a]], chain_of[origin[b]]) for a, b in cascade_pairs(fused)]
    return [pair for pair in pairs if pair not in cascades and _cascade_length(cascades + [pair]) <= MAX_CASCADE]


def plan_memory(graph: Graph, fusion: str = "auto", arena_limit_bytes: int | None = None) -> MemoryPlan:
    """Plan the arena for `graph` after the bit-exact rewrites of fuse.py (the code generator plans with
    this function and lowers `plan.graph`, so the cost model, the search's screening and the generated C
    agree on the arena and on which blocks run fused).

    fusion (FUSION_MODES): "auto" runs as FUSED_MBCONV the inverted-residual blocks where that lowers
    the peak, and cascades consecutive fused blocks where that does (the first makes its rows as the
    second needs them, so the tensor between them never exists). Greedy: while the op at the peak of
    live bytes belongs to a fusable block or a cascadable pair, take the step that lowers (arena, peak)
    most, among those recomputing at most RECOMPUTE_MAC_BUDGET of the graph's MACs (squeeze-excitation's
    first pass); stop when none does. Blocks away from the peak stay plain (no latency cost for nothing).
    Fusing anything costs the fused kernel's deeper stack (FUSED_KERNEL_EXTRA_STACK_BYTES), so "auto" stays
    plain where fusing saves less arena than that: the peak SRAM (arena + stack) would not go down.
    "off": none fused; "all": every fusable block fused, every cascadable pair cascaded.
    "fit" (needs arena_limit_bytes): the first plan, in this order, whose arena is at most the limit: every block
    plain with every depthwise ring the pair kernel wants; plain with rings given up as few as needed; the fusion
    search of "auto" stopped at its first step that fits (with FUSED_KERNEL_EXTRA_STACK_BYTES of the limit left for
    the fused kernel's stack); else "auto"'s plan (the lowest arena; it does not fit, and
    the caller's budget check says so). Plain layers and pair rings are the faster kernels (the paper's models: 0.69-
    0.90x the instructions of their fused plans), so fusion costs instructions only where the budget needs it."""
    if fusion not in FUSION_MODES:
        raise ModelError(f"unknown fusion mode '{fusion}': use one of {', '.join(FUSION_MODES)}")
    if (fusion == "fit") != (arena_limit_bytes is not None):
        raise ModelError("fusion 'fit' needs the arena limit in bytes (the board's SRAM budget less the firmware's "
                         "other RAM), and only 'fit' takes one: pass both or neither")
    if arena_limit_bytes is not None and arena_limit_bytes < 1:
        raise ModelError(f"arena limit {arena_limit_bytes} B: must be at least 1 byte")
    graph = split_as_slices(graph)
    graph = fuse_activations(fuse_swish(fuse_pads(depthwise_single_channel_as_conv(grouped_conv_as_groups(graph)))))
    off: list[MemoryPlan] = []

    def plain() -> MemoryPlan:  # fusion "off"'s plan, made at most once (auto and unfused_arena_bytes both ask)
        if not off:
            off.append(_plan_kernels(graph, "off"))
        return off[0]

    if fusion == "fit":
        assert arena_limit_bytes is not None
        best = _plan_to_fit(graph, arena_limit_bytes, plain)
    else:
        best = _plan_auto(graph, plain) if fusion == "auto" else _plan_kernels(graph, fusion)
    if fusion != "off" and any(runs_depthwise_pairs(graph, op) for op in graph.operators):
        best.unfused_arena_bytes = plain().arena_bytes  # what fusion "off" plans
    return best


def _plan_auto(graph: Graph, plain: Callable[[], MemoryPlan]) -> MemoryPlan:
    """plan_memory's "auto" mode (see there); plain() gives fusion "off"'s plan."""
    best = _plan_kernels(graph, "auto")
    if any(op.opcode == FUSED_MBCONV for op in best.graph.operators):
        if plain().arena_bytes - best.arena_bytes < FUSED_KERNEL_EXTRA_STACK_BYTES:
            best = plain()  # the fused kernel's deeper stack would take back what its arena saves, and it is slower
    return best


def _plan_to_fit(graph: Graph, limit: int, plain: Callable[[], MemoryPlan]) -> MemoryPlan:
    """plan_memory's "fit" mode (see there): plain, then the fusion search, each stopped where it fits. A plan with
    fused blocks must leave FUSED_KERNEL_EXTRA_STACK_BYTES of the limit free: the fused kernel's deeper stack comes
    out of the same SRAM budget (the limit's headroom is the plain firmware's other RAM)."""
    roomy = _plan_kernels(graph, "off", limit)
    if roomy.arena_bytes <= limit:
        return roomy
    fused_limit = limit - FUSED_KERNEL_EXTRA_STACK_BYTES
    if fused_limit >= 1:
        fused = _plan_kernels(graph, "auto", fused_limit)
        if fused.arena_bytes <= fused_limit:
            return fused
    return _plan_auto(graph, plain)  # nothing fits: the lowest peak, as auto plans it


def _plan_kernels(graph: Graph, fusion: str, arena_limit: int | None = None) -> MemoryPlan:
    """_plan_fused with each eligible depthwise on the pair kernel unless its ring raises the arena (with
    arena_limit: above the limit; rings are given up only until the plan fits it)."""
    best = _plan_fused(graph, fusion, arena_limit)
    eligible = [op.index for op in graph.operators if runs_depthwise_pairs(graph, op)]
    if not eligible or (arena_limit is not None and best.arena_bytes <= arena_limit):
        return best
    # The pair kernel's q15 ring is twice the tap list's: where it would raise the arena, layers take the tap list,
    # one by one, until the arena is what the tap list gives. Two orders, the lower arena kept (then the plan with
    # more pair rings): the layers that need the most bytes while they run first (their input, output and ring:
    # those at the peak), and the largest ring difference first. Neither is always better: by ring difference a
    # small late 5x5 went before the early layer at the peak, and every layer lost its ring (20x20x64 -> 10x10x64,
    # then four 5x5); by need, 32px-50M stopped at 42,240 B of arena where the other order reaches 37,120.
    taps = _plan_fused(_with_tap_list(graph, set(eligible)), fusion, arena_limit)
    target = taps.arena_bytes if arena_limit is None else max(taps.arena_bytes, arena_limit)
    if best.arena_bytes <= target:
        return best
    growth = {j: depthwise_pairs_ring_bytes(graph, graph.operators[j]) - depthwise_ring_bytes(graph, graph.operators[j])
              for j in eligible}
    need = {j: _activation_bytes(graph, graph.operators[j]) + depthwise_pairs_ring_bytes(graph, graph.operators[j])
            for j in eligible}
    results = []
    orders = (tuple(sorted(eligible, key=lambda j: (-need[j], -growth[j], j))),
              tuple(sorted(eligible, key=lambda j: (-growth[j], j))))
    for order in dict.fromkeys(orders):  # one pass where both orders agree
        dropped: set[int] = set()
        for j in order:
            dropped.add(j)
            plan = _plan_fused(_with_tap_list(graph, dropped), fusion, arena_limit)
            if plan.arena_bytes <= target:
                break
        results.append((plan.arena_bytes, len(dropped), len(results), plan))
    return min(results, key=lambda r: r[:3])[3]


def _activation_bytes(graph: Graph, op: Operator) -> int:
    """The bytes of an op's first input and its output."""
    return sum(graph.tensors[t].nbytes for t in (op.inputs[0], op.outputs[0]))


def _with_tap_list(graph: Graph, ops: set[int]) -> Graph:
    """graph with the DEPTHWISE_CONV_2D ops `ops` marked for the tap-list kernel (scratch.runs_depthwise_pairs)."""
    return _with_option(graph, ops, TAP_LIST_OPTION)


def _with_option(graph: Graph, ops: set[int], option: str) -> Graph:
    return replace(graph, operators=[replace(op, options={**op.options, option: True}) if op.index in ops
                                     else op for op in graph.operators])


def _with_fused_q15_rings(graph: Graph, plan: MemoryPlan, chosen: list[MbconvChain],
                          cascades: list[Cascade]) -> MemoryPlan:
    """plan (the fusion search's, every fused depthwise on its int8 ring) with each fused 3x3 depthwise on the
    pair kernel's q15 ring (scratch.fused_depthwise_pairs: one SMLAD per two taps, its ring twice the bytes)
    where that keeps plan's arena: all of them if they fit, else one by one, the most depthwise MACs first.
    The blocks fused and cascaded stay those the search chose; a 3x3 depthwise left on its int8 ring runs the same
    pair rows on q15 strips where they fit in its block's scratch (scratch.strip_channels: no arena for it)."""
    eligible = [chain.depthwise for chain in chosen if depthwise_pairs_shape(graph, graph.operators[chain.depthwise])
                and folded_requant_of(graph, graph.operators[chain.depthwise])]
    if not eligible:
        return plan
    arena = plan.arena_bytes
    trial = _build(_with_option(graph, set(eligible), FUSED_Q15_RING_OPTION), chosen, cascades)
    if trial.arena_bytes <= arena:
        return trial
    marked: set[int] = set()
    for j in sorted(eligible, key=lambda j: (-_conv_macs(graph, graph.operators[j]), j)):
        trial = _build(_with_option(graph, marked | {j}, FUSED_Q15_RING_OPTION), chosen, cascades)
        if trial.arena_bytes <= arena:
            marked.add(j)
            plan = trial
    return plan


def _plan_fused(graph: Graph, fusion: str, arena_limit: int | None = None) -> MemoryPlan:
    """plan_memory's fusion search on the rewritten graph (see there); with arena_limit, the first of its steps
    whose arena fits the limit (fewer fused blocks: faster) rather than the lowest."""
    plain = _place(graph)
    plain.graph, plain.origin = graph, [(op.index,) for op in graph.operators]
    best = plain
    chains = mbconv_chains(graph) if fusion != "off" else []
    chosen: list[MbconvChain] = []
    cascades: list[Cascade] = []
    total_macs = _graph_macs(graph)
    if fusion == "all":
        for chain in chains:
            if not set(chain.ops) & {j for c in chosen for j in c.ops}:
                chosen.append(chain)
        while candidates := _cascade_candidates(graph, chosen, cascades):
            cascades.append(candidates[0])
        best = _build(graph, chosen, cascades) if chosen else plain
        chains = []
    steps_taken: list[tuple[list[MbconvChain], list[Cascade], MemoryPlan]] = [(chosen, cascades, best)]
    while chains:
        peak = best.peak_live_bytes
        at_peak = {j for i, live in enumerate(best.live_bytes_per_op) if live == peak for j in best.origin[i]}
        taken = {j for chain in chosen for j in chain.ops}
        steps: list[tuple[list[MbconvChain], list[Cascade]]] = [
            (chosen + [chain], cascades) for chain in chains
            if chain not in chosen and set(chain.ops) & at_peak and not set(chain.ops) & taken]
        steps += [(chosen, cascades + [pair]) for pair in _cascade_candidates(graph, chosen, cascades)
                  if (set(pair[0].ops) | set(pair[1].ops)) & at_peak]
        # a plain block feeding a fused one at the peak: fuse it and cascade it in, as one step
        fused_inputs_at_peak = {graph.operators[c.ops[0]].inputs[0] for c in chosen if set(c.ops) & at_peak}
        for chain in chains:
            if chain in chosen or set(chain.ops) & taken:
                continue
            if graph.operators[chain.ops[-1]].outputs[0] not in fused_inputs_at_peak:
                continue  # it feeds no fused block at the peak: no such pair (and no whole-graph fusion to find that)
            feeds = [pair for pair in _cascade_candidates(graph, chosen + [chain], cascades)
                     if pair[0] == chain and set(pair[1].ops) & at_peak]
            steps += [(chosen + [chain], cascades + [pair]) for pair in feeds]
        if not steps:
            break
        trials = [(trial.arena_bytes, trial.peak_live_bytes, k, trial, step)
                  for k, step in enumerate(steps) for trial in [_build(graph, *step)]
                  if recompute_macs(trial) <= RECOMPUTE_MAC_BUDGET * total_macs]
        if not trials:
            break
        arena, peak_live, _, trial, (chosen_next, cascades_next) = min(trials, key=lambda t: t[:3])
        if (arena, peak_live) >= (best.arena_bytes, best.peak_live_bytes):
            break
        chosen, cascades, best = chosen_next, cascades_next, trial
        steps_taken.append((chosen, cascades, best))
    # a step that lowered only the peak's live bytes leads on to one that lowers the arena, or to nothing: the plan
    # is the first state with the lowest arena, without the fused blocks after it (slower, no byte saved)
    lowest = min(state[2].arena_bytes for state in steps_taken)
    enough = lowest if arena_limit is None else max(lowest, arena_limit)
    chosen, cascades, best = next(state for state in steps_taken if state[2].arena_bytes <= enough)
    if chosen:
        best = _with_fused_q15_rings(graph, best, chosen, cascades)
    best.unfused_arena_bytes = plain.arena_bytes
    return best


def _place(graph: Graph) -> MemoryPlan:
    """Lifetimes, in-place reuse, scratch and greedy placement for `graph` as scheduled."""
    ids = _activation_ids(graph)
    groups = _Groups()
    for t in ids:
        groups.find(t)
    for op in graph.operators:
        if op.opcode in _ALIASING_OPS:
            groups.union(op.inputs[0], op.outputs[0])
    in_place: set[int] = set()
    scratch: dict[int, int] = {}
    fused_in_place: set[int] = set()
    # the lifetimes kept up to date as buffers merge (a merged buffer lives from the first of its tensors' first
    # ops to the last of their last ops), not recomputed for each op: that was quadratic in the ops (NASNetMobile
    # at 32 px, ~600 ops planned ~300 times by the fusion search: 2 minutes)
    spans = _lifetimes(graph, groups, ids)

    def share(keep: int, other: int) -> None:
        if groups.find(keep) == groups.find(other):
            return
        kept, merged = spans.get(groups.find(keep)), spans.pop(groups.find(other), None)
        groups.union(keep, other)
        if kept is not None and merged is not None:
            kept[0], kept[1] = min(kept[0], merged[0]), max(kept[1], merged[1])
        elif merged is not None:
            spans[groups.find(keep)] = merged

    for op in graph.operators:
        if op.opcode not in _IN_PLACE_OPS and op.opcode not in ("DEPTHWISE_CONV_2D", FUSED_MBCONV):
            continue
        out = op.outputs[0]
        if op.opcode in (FUSED_MBCONV, "DEPTHWISE_CONV_2D"):
            # a row-ring kernel writes over an input that dies here, when its shapes allow it
            can_run, done = ((_can_run_fused_in_place, fused_in_place) if op.opcode == FUSED_MBCONV
                             else (_can_run_depthwise_in_place, in_place))
            root = groups.find(op.inputs[0])
            if can_run(graph, op) and spans[root][1] == op.index and op.inputs[0] not in graph.outputs:
                share(op.inputs[0], out)
                done.add(op.index)
            continue
        out_bytes = graph.tensors[out].nbytes
        for candidate in op.inputs:
            if candidate < 0 or graph.tensors[candidate].is_constant:
                continue
            root = groups.find(candidate)
            same_size = graph.tensors[candidate].nbytes == out_bytes
            if same_size and spans[root][1] == op.index and root != groups.find(out):
                share(candidate, out)
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
    change = [0] * (len(graph.operators) + 2)  # live bytes per op as a running sum of starts and ends
    for size, first, last in items.values():
        first, last = max(first, 0), min(last, len(graph.operators) - 1)
        if first <= last:
            change[first] += size
            change[last + 1] -= size
    live, running = [], 0
    for i in range(len(graph.operators)):
        running += change[i]
        live.append(running)
    modes = {}
    for op in graph.operators:
        shares = op.outputs and op.inputs and groups.find(op.outputs[0]) in {groups.find(t) for t in op.inputs if t >= 0}
        if op.opcode == FUSED_MBCONV and op.options.get("upstream") is not None:
            modes[op.index] = "fused band, cascade"
        elif op.opcode == FUSED_MBCONV:
            modes[op.index] = ("fused band" + (", SE in two passes" if op.options.get("se_mul") is not None else "")
                               + (", in place" if op.index in fused_in_place else ""))
        elif op.opcode in _ALIASING_OPS:
            modes[op.index] = "alias"
        else:
            modes[op.index] = "in place" if shares else "plain"
    return MemoryPlan(arena_bytes=arena,
                      offsets={t: offsets[("t", groups.find(t))] for t in ids},
                      scratch_bytes=max(scratch.values(), default=0),
                      live_bytes_per_op=live,
                      lifetimes={t: tuple(spans[groups.find(t)]) for t in ids},
                      aliases={t: groups.find(t) for t in ids if groups.find(t) != t},
                      in_place_ops=in_place,
                      scratch_offsets={i: offsets[("s", i)] for i in scratch},
                      scratch_sizes=dict(scratch),
                      modes=modes)


def peak_location(plan: MemoryPlan) -> int:
    """The planned op (index into plan.graph) with the most bytes alive: where the arena's size comes from."""
    return max(range(len(plan.live_bytes_per_op)), key=lambda i: plan.live_bytes_per_op[i], default=0)
