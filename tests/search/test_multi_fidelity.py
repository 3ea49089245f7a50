"""Multi-fidelity proxy training (ASHA): rung budgets, promotion decisions with known answers, and the loop
training promoted candidates on from their previous rung while measuring each spec once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.errors import ConfigError
from tinyhil.search.fidelity import Fidelity, promotion, promotion_order
from tinyhil.search.loop import EVALUATED
from tinyhil.search.proposers import EvolutionProposer, RandomProposer

from .search_doubles import ToyStages, build_toy_loop


def test_rungs_split_the_proxy_budget_geometrically() -> None:
    fidelity = Fidelity(rungs=3, eta=3)
    assert [str(fidelity.fraction(r)) for r in range(3)] == ["1/9", "1/3", "1"]
    assert fidelity.budget(0) == (0.0, pytest.approx(1 / 9)) and fidelity.budget(2) == (pytest.approx(1 / 3), 1.0)
    assert fidelity.describe(1) == "rung 1/2 (1/3 of the proxy budget)"
    assert not Fidelity().multi and Fidelity().budget(0) == (0.0, 1.0)
    with pytest.raises(ConfigError, match="rungs 9 is not an integer in"):
        Fidelity(rungs=9)


def _m(accuracy: float, macs: int) -> dict:
    return {"accuracy": accuracy, "macs": macs, "peak_sram_bytes": 1000, "flash_bytes": 1000, "latency": macs}


def test_the_first_candidate_at_a_rung_continues_and_then_the_top_third_does() -> None:
    assert promotion(_m(0.5, 100), [], eta=3, rung=0)[0]  # alone: the top 1 of 1
    # dominated by a peer (less accurate and larger): stops
    go_on, why = promotion(_m(0.5, 200), [_m(0.6, 100)], eta=3, rung=0)
    assert not go_on and why == "stops: ranked 2 of 2 at rung 0 (top 1 continue)"
    # six candidates: the top 2 continue; the most accurate of equally boundary points goes first
    peers = [_m(0.60, 100), _m(0.62, 120), _m(0.50, 300), _m(0.40, 400), _m(0.30, 500)]
    assert promotion(_m(0.70, 90), peers, eta=3, rung=1) == (True, "continues: ranked 1 of 6 at rung 1 (top 2 continue)")
    assert not promotion(_m(0.55, 130), peers, eta=3, rung=1)[0]
    assert promotion_order([_m(0.5, 100), _m(0.9, 100), _m(0.4, 200)]) == [1, 0, 2]


def test_promoted_candidates_train_on_from_their_last_rung_and_every_spec_is_measured_once(tmp_path: Path) -> None:
    stages = ToyStages()
    loop = build_toy_loop(tmp_path / "run", EvolutionProposer(), iterations=9, stages=stages,
                          fidelity=Fidelity(rungs=3, eta=3))
    loop.run()
    evaluated = loop.store.candidates(EVALUATED)
    assert len(evaluated) == 9
    assert sorted(job.candidate_id for job in stages.measured) == sorted(c.id for c in evaluated)  # once each
    assert all(job.rung == 0 for job in stages.measured)
    rungs = {c.id: c.metrics["rung"] for c in evaluated if c.status == "measured"}
    assert max(rungs.values()) == 2 and min(rungs.values()) == 0  # some went all the way, some stopped early
    for job in stages.trained:
        if job.rung:  # continues from the checkpoint of the rung below, for the budget between the two rungs
            history = loop.store.get_candidate(job.candidate_id).metrics["rung_history"]
            assert job.init_checkpoint == history[job.rung - 1]["checkpoint"]
            assert job.budget == Fidelity(3, 3).budget(job.rung)
    top = next(c for c in evaluated if c.metrics.get("rung") == 2)
    accuracies = [h["accuracy"] for h in top.metrics["rung_history"]]
    assert accuracies == sorted(accuracies) and top.metrics["accuracy"] == accuracies[-1]
    assert "after rung 2/2 (the whole proxy budget)" in top.metrics["accuracy_kind"]
    # fewer rung-2 trainings than candidates: the point of the exercise
    assert sum(job.rung == 2 for job in stages.trained) <= 1 + len(evaluated) // 9


def test_a_failed_higher_rung_keeps_the_rung_below(tmp_path: Path) -> None:
    class FailingRungOne(ToyStages):
        def train_export(self, job):  # type: ignore[no-untyped-def]
            if job.rung == 1:
                raise RuntimeError("out of memory (test double)")
            return super().train_export(job)

    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=3, stages=FailingRungOne(),
                          fidelity=Fidelity(rungs=2, eta=2))
    loop.run()
    first = loop.store.candidates(EVALUATED)[0]
    assert first.status == "measured" and first.metrics["rung"] == 0 and first.metrics["rung_pending"] is None
    assert "rung 1 failed, kept rung 0" in first.reason and "out of memory" in first.reason
    assert first.metrics["accuracy"] == first.metrics["rung_history"][0]["accuracy"]


def test_a_time_budget_stops_new_proposals(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=50, stages=ToyStages(delay_s=0.05),
                          time_budget_s=0.3)
    outcome = loop.run()
    assert 1 <= outcome.evaluated < 50 and "time budget of 0.3 s is spent" in outcome.stopped_reason
