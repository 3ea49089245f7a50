"""The search's screening and the cost model plan with fused execution (the planner's default), so a
paper-space candidate whose plain plan is over the SRAM budget but whose fused plan fits is screened in:
LMaNet-Core at 160x160x3, whose plain plan (307,264 B) is over 256 KiB."""

from __future__ import annotations

import json
from pathlib import Path

from tinyhil.codegen.planner import plan_memory
from tinyhil.spec.cost import estimate, spec_graph
from tinyhil.spec.paper_config import spec_from_paper
from tinyhil.search.screening import Budgets, Screener
from tinyhil.spec.space import ArchSpec

MODELS = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "paper_models.json").read_text())["models"]


def _lmanet_core() -> ArchSpec:
    return ArchSpec.from_dict(spec_from_paper(MODELS["LMaNet-Core"], source="LMaNet-Core"))


def test_cost_model_arena_is_the_fused_plan_of_the_same_graph() -> None:
    spec = _lmanet_core()
    graph, _ = spec_graph(spec, (160, 160, 3), 100)
    fused, plain = plan_memory(graph), plan_memory(graph, fusion="off")
    assert estimate(spec, (160, 160, 3), 100).peak_activation_bytes == fused.arena_bytes
    assert fused.arena_bytes < 0.6 * plain.arena_bytes  # block 2's 80x80x32 expansion never exists whole
    assert any(mode.startswith("fused") for mode in fused.modes.values())


def test_screening_accepts_a_candidate_that_only_fits_fused() -> None:
    spec = _lmanet_core()
    budget = 256 * 1024
    graph, _ = spec_graph(spec, (160, 160, 3), 100)
    assert plan_memory(graph, fusion="off").arena_bytes > budget  # rejected before fused planning
    screener = Screener(ArchSpec, lambda s: estimate(s, (160, 160, 3), 100), Budgets(peak_sram_bytes=budget),
                        seen=lambda _: False)
    result = screener.check(spec)
    assert result.kind == "ok", result.problems
    assert result.cost["peak_activation_bytes"] <= budget
