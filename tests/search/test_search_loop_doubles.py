"""The loop with test doubles at the stage boundaries: what it records for each outcome."""

from __future__ import annotations

from pathlib import Path

from tinyhil.search.loop import EVALUATED, hypervolume_history
from tinyhil.search.pareto import reference_from_constraints
from tinyhil.search.proposers import EvolutionProposer, RandomProposer
from tinyhil.search.screening import Budgets

from .search_doubles import ToyStages, build_toy_loop, toy_estimate, ToySpec


def test_evolution_evaluates_the_asked_number_and_records_build_failures(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=10, stages=ToyStages(fail_kernel=7))
    outcome = loop.run()
    candidates = loop.store.candidates()
    evaluated = [c for c in candidates if c.status in EVALUATED]
    assert outcome.evaluated == len(evaluated) == 10
    failed = [c for c in candidates if c.status == "failed"]
    assert failed and all(c.stage == "build" and "overflowed" in c.reason for c in failed)
    assert all(any(s["kernel"] == 7 for s in c.spec["stages"]) for c in failed)
    measured = [c for c in candidates if c.status == "measured"]
    assert all(c.metrics["latency_unit"] == "instructions" and c.provenance["kind"] == "emulator" for c in measured)
    assert all("macs" in c.metrics and "analytic_peak_activation_bytes" in c.metrics for c in evaluated)
    assert {c.id for c in outcome.front} <= {c.id for c in measured} and outcome.front
    hashes = [c.spec_hash for c in candidates if c.spec_hash]
    assert len(hashes) == len(set(hashes))


def test_over_budget_specs_are_rejected_before_training_with_the_reason(tmp_path: Path) -> None:
    budgets = Budgets(macs=400_000, peak_sram_bytes=120_000, flash_bytes=200_000)
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=5, budgets=budgets)
    loop.run()
    rejected = loop.store.candidates("rejected")
    assert rejected, "random draws in this space often exceed 400k MACs"
    assert all("exceeds the macs budget" in c.reason or "budget" in c.reason for c in rejected)
    assert all(toy_estimate(ToySpec.from_dict(c.spec)).macs <= 400_000 for c in loop.store.candidates(EVALUATED))
    assert not any(c.timings for c in rejected)  # never trained


def test_measured_over_budget_is_infeasible_and_off_the_front(tmp_path: Path) -> None:
    # analytic peak activation of width 32 (50176 B) passes 55 KB, but the measured peak (activation + 9000 B) may not
    budgets = Budgets(macs=2_000_000, peak_sram_bytes=55_000, flash_bytes=200_000)
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=12, seed=5, budgets=budgets)
    outcome = loop.run()
    infeasible = loop.store.candidates("infeasible")
    assert infeasible and all("measured over budget: peak_sram_bytes" in c.reason for c in infeasible)
    assert not {c.id for c in infeasible} & {c.id for c in outcome.front}


def test_hypervolume_never_decreases_with_evaluations(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=8)
    loop.run()
    constraints = loop.constraints
    history = hypervolume_history(loop.store.candidates(), reference_from_constraints(constraints), constraints)
    assert [n for n, _ in history] == list(range(1, 9))
    values = [v for _, v in history]
    assert values == sorted(values) and values[-1] > 0


def test_a_seeded_run_is_reproducible(tmp_path: Path) -> None:
    first = build_toy_loop(tmp_path / "a", EvolutionProposer(), iterations=6, seed=11)
    second = build_toy_loop(tmp_path / "b", EvolutionProposer(), iterations=6, seed=11)
    first.run(), second.run()
    assert [c.spec_hash for c in first.store.candidates()] == [c.spec_hash for c in second.store.candidates()]


def test_in_flight_candidates_are_re_evaluated_on_resume_and_none_is_duplicated(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=4)
    loop.run()
    # simulate a crash after training: the last candidate is left half-way
    last = loop.store.candidates("measured")[-1]
    loop.store.update_candidate(last.id, status="trained", stage="train")
    resumed = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=6)
    resumed.run()
    candidates = resumed.store.candidates()
    assert resumed.store.get_candidate(last.id).status == "measured"
    assert sum(c.status in EVALUATED for c in candidates) == 6
    hashes = [c.spec_hash for c in candidates if c.spec_hash]
    assert len(hashes) == len(set(hashes))
