"""Multi-fidelity proxy training (ASHA): rung budgets, promotion decisions with known answers, and the loop
training promoted candidates on from their previous rung while measuring each spec once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyhil.errors import ConfigError
from tinyhil.search.fidelity import Fidelity, RungRecord, next_promotion, promotion_order
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


def _at(cid: int, *rungs: tuple[float, int]) -> RungRecord:
    """A candidate that completed len(rungs) rungs, with (accuracy, MACs) at each."""
    return RungRecord(cid, len(rungs) - 1, {r: _m(*a) for r, a in enumerate(rungs)})


def test_asha_promotes_the_top_third_of_a_rung_from_the_highest_rung_down() -> None:
    fidelity = Fidelity(rungs=3, eta=3)
    # fewer than eta at rung 0: nobody goes on, the search grows rung 0
    assert next_promotion([_at(1, (0.5, 100)), _at(2, (0.6, 100))], fidelity) is None
    # three at rung 0: the best (here more accurate at equal cost) goes on
    three = [_at(1, (0.5, 100)), _at(2, (0.6, 100)), _at(3, (0.4, 100))]
    assert next_promotion(three, fidelity) == (2, 1, "promoted to rung 1: ranked 1 of 3 at rung 0 (top 1 go on)")
    # once it has gone on, it is not promoted from rung 0 again; nobody else is in the top 1
    moved = [three[0], _at(2, (0.6, 100), (0.7, 100)), three[2]]
    assert next_promotion(moved, fidelity) is None
    # a failed rung keeps its place but is not retried
    failed = [three[0], RungRecord(2, 0, three[1].at, promotable=False), three[2]]
    assert next_promotion(failed, fidelity) is None
    # six at rung 0, three of them at rung 1: the higher rung is served first
    six = [_at(1, (0.5, 100), (0.55, 100)), _at(2, (0.6, 90), (0.8, 90)), _at(3, (0.4, 100), (0.45, 100)),
           _at(4, (0.3, 300)), _at(5, (0.2, 400)), _at(6, (0.1, 500))]
    assert next_promotion(six, fidelity)[:2] == (2, 2)
    # a dominated candidate never outranks the one dominating it; the most accurate boundary point goes first
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
    # the lower rungs rank by float validation accuracy (no int8 evaluation); the last is evaluated in int8
    assert [h["accuracy_kind"].split(",")[0] for h in top.metrics["rung_history"]] == ["float", "float", "int8"]
    assert [h["int8_accuracy"] is None for h in top.metrics["rung_history"]] == [True, True, False]
    assert all("validation split" in h["accuracy_kind"] for h in top.metrics["rung_history"])
    # fewer rung-2 trainings than candidates: the point of the exercise
    # (ASHA may promote a little more than a third: the top third of a rung is taken as the rung fills)
    at_rung = [sum(job.rung == r for job in stages.trained) for r in range(3)]
    assert at_rung[0] == 9 and 9 // 3 <= at_rung[1] < at_rung[0] and 1 <= at_rung[2] < at_rung[1]


def test_a_failed_higher_rung_keeps_the_rung_below(tmp_path: Path) -> None:
    class FailingRungOne(ToyStages):
        def train_export(self, job):  # type: ignore[no-untyped-def]
            if job.rung == 1:
                raise RuntimeError("out of memory (test double)")
            return super().train_export(job)

    stages = FailingRungOne()
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=4, stages=stages,
                          fidelity=Fidelity(rungs=2, eta=2))
    loop.run()
    failed = [c for c in loop.store.candidates(EVALUATED) if "rung 1 failed" in c.reason]
    assert failed and all(c.status == "measured" and c.metrics["rung"] == 0 and c.metrics["rung_pending"] is None
                          for c in failed)
    assert all("kept rung 0" in c.reason and "out of memory" in c.reason for c in failed)
    assert all(c.metrics["accuracy"] == c.metrics["rung_history"][0]["accuracy"] for c in failed)
    tried = [job.candidate_id for job in stages.trained if job.rung == 1]
    assert len(tried) == len(set(tried))  # a failed rung is not retried


def test_a_time_budget_stops_new_proposals(tmp_path: Path) -> None:
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=50, stages=ToyStages(delay_s=0.05),
                          time_budget_s=0.3)
    outcome = loop.run()
    assert 1 <= outcome.evaluated < 50 and "time budget of 0.3 s is spent" in outcome.stopped_reason


def test_the_default_rungs_are_as_many_as_the_evaluations_can_fill() -> None:
    from tinyhil.search.fidelity import rungs_for

    assert [rungs_for(n, 3) for n in (1, 6, 8, 9, 26, 27, 500)] == [2, 2, 2, 3, 3, 3, 3]
    assert rungs_for(27, 3, most=4) == 4 and rungs_for(8, 2, most=5) == 4


def test_promotions_due_when_the_evaluations_are_in_still_train_on(tmp_path: Path) -> None:
    # 6 evaluations, 2 rungs, eta 3: floor(6 / 3) = 2 candidates are due at the whole budget, and the second
    # becomes due only with the sixth evaluation, after which no new proposal asks for promotions
    stages = ToyStages()
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=6, stages=stages,
                          fidelity=Fidelity(rungs=2, eta=3))
    outcome = loop.run()
    assert outcome.evaluated == 6 and not outcome.stopped_reason
    at_last = [job.candidate_id for job in stages.trained if job.rung == 1]
    assert len(at_last) == 2 == len(set(at_last))
    finished = [c for c in loop.store.candidates(EVALUATED) if c.metrics.get("rung") == 1]
    assert sorted(c.id for c in finished) == sorted(at_last)


def test_train_subset_sets_the_proxy_training_images_and_the_rung_steps_above_the_default() -> None:
    import types

    from tinyhil.search.evaluation import Job, PipelineStages
    from tinyhil.ml.train import TrainConfig

    default = TrainConfig.proxy()
    stages = PipelineStages(dataset="fashion-mnist", board="qemu-m7", train_subset=20_000)
    assert stages.train_config(1).train_subset == 20_000  # was capped at the proxy's 5000 images
    assert PipelineStages(dataset="fashion-mnist", board="qemu-m7").train_config(1).train_subset == default.train_subset
    job = Job(1, {}, seed=1, workdir="unused", rung=0, budget=Fidelity(3, 3).budget(0))
    dataset = types.SimpleNamespace(train_y=range(54_000))
    steps = default.epochs * -(-20_000 // default.batch_size)
    assert stages.rung_config(job, dataset).max_steps == round(steps / 9)


def test_a_rung_trains_on_its_own_data_order_and_recalibrates_batchnorm() -> None:
    """Each rung's training ends with BatchNorm statistics of its final weights (a 13-step first rung was at chance
    level in eval mode without them) and draws its batches in an order of its own, not the first rung's again;
    single fidelity's proxy training is left as it was."""
    import types

    from tinyhil.search.evaluation import RUNG_BN_IMAGES, Job, PipelineStages

    stages = PipelineStages(dataset="fashion-mnist", board="qemu-m7")
    dataset = types.SimpleNamespace(train_y=range(54_000))
    fidelity = Fidelity(3, 3)
    configs = [stages.rung_config(Job(1, {}, seed=7, workdir="unused", rung=r, budget=fidelity.budget(r)), dataset)
               for r in range(3)]
    assert [c.recalibrate_bn_images for c in configs] == [RUNG_BN_IMAGES] * 3
    assert len({c.seed for c in configs}) == 3
    single = stages.rung_config(Job(1, {}, seed=7, workdir="unused", rung=0, budget=Fidelity(1, 3).budget(0)), dataset)
    assert single.recalibrate_bn_images == 0 and single.max_steps is None and single.seed == configs[0].seed


def test_evolution_ranks_parents_within_their_rung_the_highest_rung_first() -> None:
    """A rung-0 accuracy (1/9 of the proxy budget) is not compared with a last-rung one: the candidates ASHA took
    furthest are the first parents, each rung in NSGA-II order."""
    from tinyhil.search.pareto import rank_for_selection
    from tinyhil.search.proposers.evolution import parent_order
    from tinyhil.search.store import Candidate

    def measured(cid: int, rung: int, accuracy: float, macs: int) -> Candidate:
        return Candidate(id=cid, step=cid, proposer="evolution", spec={}, spec_hash=str(cid), status="measured",
                         metrics={**_m(accuracy, macs), "rung": rung})

    # 0: tiny and, after 1/9 of the budget, inaccurate; 2 dominates 1 at rung 1; 3 went all the way
    pool = [measured(0, 0, 0.30, 50), measured(1, 1, 0.60, 200), measured(2, 1, 0.70, 150), measured(3, 2, 0.80, 300)]
    assert parent_order(pool) == [3, 2, 1, 0]
    single = [measured(0, 0, 0.30, 50), measured(1, 0, 0.60, 200), measured(2, 0, 0.70, 150)]
    assert parent_order(single) == rank_for_selection([c.metrics for c in single])  # single fidelity: unchanged


def _front_member(candidate_id: int, rung: int, accuracy: float, train_s: float, **metrics: object) -> "Candidate":
    from tinyhil.search.store import Candidate

    return Candidate(candidate_id, candidate_id, "test", {}, f"h{candidate_id}", "measured",
                     metrics={"rung": rung, "rung_pending": None, "accuracy": accuracy, "macs": 1000, **metrics},
                     timings={"train": train_s, "export": 2.0})


def test_the_front_is_finished_once_the_time_left_is_what_its_unfinished_members_need() -> None:
    from tinyhil.search.endgame import next_to_finish, seconds_to_finish

    fidelity = Fidelity(rungs=3, eta=3)
    front = [_front_member(1, 0, 0.5, 1.0), _front_member(2, 1, 0.8, 3.0), _front_member(3, 2, 0.9, 9.0),
             _front_member(4, 0, 0.95, 1.0, rung_pending=1), _front_member(5, 0, 0.99, 1.0, rung_failed=1)]
    # 1/9 of the budget took 1 s: 8 s more, plus one export; 1/3 took 3 s: 6 s more, plus half the 2 s of exports
    assert seconds_to_finish(front[0], fidelity) == pytest.approx(10.0)
    assert seconds_to_finish(front[1], fidelity) == pytest.approx(7.0)
    # the finished member, the one already promoted and the one whose rung failed are not counted
    assert next_to_finish(front, fidelity, remaining_s=17.5) is None
    candidate, why = next_to_finish(front, fidelity, remaining_s=17.0)
    assert candidate.id == 2 and "promoted to rung 2: finishing the front" in why and "need ~17 s" in why
    assert next_to_finish(front, Fidelity(rungs=1), remaining_s=0.0) is None


class _SlowToyStages(ToyStages):
    """Reports every rung's training as an hour (nothing sleeps): any time budget is then too short to finish."""

    def train_export(self, job):  # noqa: ANN001, ANN201
        import dataclasses

        return dataclasses.replace(super().train_export(job), timings={"train": 3600.0, "export": 0.0})


def test_near_the_end_of_a_time_budget_the_front_trains_on_before_new_candidates(tmp_path: Path, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="tinyhil.search.loop")
    stages = _SlowToyStages()
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=2, stages=stages,
                          fidelity=Fidelity(rungs=3, eta=3), time_budget_s=600.0)
    loop.settings.finish_front = True
    loop.run()
    first, second = loop.store.candidates(EVALUATED)
    # the first candidate was the whole front: it trained to the last rung before the second was proposed (the
    # second is the last evaluation the run asked for, and no ASHA promotion is due among two candidates)
    assert [(job.candidate_id, job.rung) for job in stages.trained] == [(first.id, 0), (first.id, 1), (first.id, 2),
                                                                        (second.id, 0)]
    assert first.metrics["rung"] == 2
    assert sum(f"candidate {first.id} promoted to rung" in r.message and "finishing the front" in r.message
               for r in caplog.records) == 2


@pytest.mark.parametrize("time_budget_s, finish_front", [(None, True), (600.0, False)])
def test_without_a_time_budget_or_finish_front_no_candidate_is_promoted_to_finish_the_front(
        tmp_path: Path, time_budget_s: float | None, finish_front: bool) -> None:
    stages = _SlowToyStages()
    loop = build_toy_loop(tmp_path / "run", RandomProposer(), iterations=2, stages=stages,
                          fidelity=Fidelity(rungs=3, eta=3), time_budget_s=time_budget_s)
    loop.settings.finish_front = finish_front
    loop.run()
    assert [job.rung for job in stages.trained] == [0, 0]
