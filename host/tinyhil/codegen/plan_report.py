"""The memory plan as people read it: per planned operator (a fused block is one), its execution mode,
the bytes alive while it runs and where the peak is. One source for `tinyhil codegen`, `tinyhil bench`
and the HTML report."""

from __future__ import annotations

from typing import Any, Sequence

from .planner import MemoryPlan, peak_location


def runs_text(runs: Sequence[str]) -> str:
    """A fused block's operators in order, 'CONV_2D -> DEPTHWISE_CONV_2D -> ...', ' | ' between cascaded blocks."""
    return " -> ".join(runs).replace(" -> | -> ", " | ")


def execution_rows(layers: Sequence[Any], plan: MemoryPlan) -> list[dict[str, Any]]:
    """[{index, op, mode, live_bytes, peak}] for the generated layers (emit.LayerSummary)."""
    peak = peak_location(plan)
    return [{"index": int(layer.index), "op": runs_text(layer.runs) if layer.runs else layer.opcode,
             "mode": layer.mode, "live_bytes": int(layer.live_bytes), "peak": layer.index == peak}
            for layer in layers]


def plan_summary(plan: MemoryPlan, fusion: str) -> str:
    """One line: the arena, what fusion saved, and the op the peak comes from."""
    graph, peak = plan.graph, peak_location(plan)
    where = ""
    if graph is not None and graph.operators:
        op = graph.operators[peak]
        where = f"; peak at op {peak} ({op.opcode}, {plan.live_bytes_per_op[peak]:,} B live)"
    fused = sum(1 for mode in plan.modes.values() if mode.startswith("fused"))
    return (f"arena {plan.arena_bytes:,} B planned (analytic, fusion {fusion}: {fused} block(s) fused) vs "
            f"{plan.unfused_arena_bytes:,} B with every block plain{where}")
