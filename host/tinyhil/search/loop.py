"""The search loop: propose -> screen (space, analytic budget, duplicates) -> proxy-train -> export ->
measure -> store -> select, until `iterations` candidates have been evaluated.

The loop never knows which runner measures or which executor runs the stages. Seeds come from the run
seed and the step (proposer) or spec hash (training), so a seeded run evaluates the same set of
candidates on every executor for the same batch size. Resuming re-runs only the candidates that were in
flight when the process died; finished ones are read back from the store.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .evaluation import Job, StageEvent, Stages
from .executors import Executor
from .pareto import Constraints, HypervolumeReference, Objective, DEFAULT_OBJECTIVES, pareto_front
from .proposers.base import CheckResult, ProposalContext, ProposalError, Proposer, derive_seed
from .screening import Budgets, Screener
from .store import IN_PROGRESS, Candidate, LLMExchange, RunStore

log = logging.getLogger(__name__)

EVALUATED = ("measured", "failed", "infeasible")


@dataclass
class SearchSettings:
    iterations: int
    seed: int = 0
    batch_size: int = 1  # candidates proposed before their evaluations come back (parallelism of the executor)
    max_proposal_failures: int = 5  # consecutive steps without an acceptable spec before the search stops
    objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES


@dataclass
class SearchOutcome:
    evaluated: int
    front: list[Candidate]
    stopped_reason: str = ""
    hypervolume: list[tuple[int, float]] = field(default_factory=list)


def current_front(store: RunStore, constraints: Constraints,
                  objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> list[Candidate]:
    measured = store.candidates("measured")
    return [measured[i] for i in pareto_front([c.metrics for c in measured], objectives, constraints)]


def hypervolume_history(candidates: list[Candidate], reference: HypervolumeReference,
                        constraints: Constraints) -> list[tuple[int, float]]:
    """(evaluations so far, hypervolume of the feasible measured ones among them), in evaluation order."""
    history, measured = [], []
    evaluated = [c for c in candidates if c.status in EVALUATED]
    for count, candidate in enumerate(sorted(evaluated, key=lambda c: c.id), start=1):
        if candidate.status == "measured" and constraints.feasible(candidate.metrics):
            measured.append(candidate.metrics)
        history.append((count, reference.hypervolume(measured)))
    return history


class SearchLoop:
    def __init__(self, store: RunStore, proposer: Proposer, space: Any, spec_type: Any,
                 estimate: Callable[[Any], Any], stages: Stages, executor: Executor, budgets: Budgets,
                 constraints: Constraints, settings: SearchSettings, board: dict[str, Any], task: dict[str, Any],
                 on_change: Callable[[RunStore, StageEvent | None], None] | None = None):
        self.store = store
        self.proposer = proposer
        self.space = space
        self.stages = stages
        self.executor = executor
        self.budgets = budgets
        self.constraints = constraints
        self.settings = settings
        self.board = board
        self.task = task
        self.on_change = on_change or (lambda store, event: None)
        self.screener = Screener(spec_type, estimate, budgets, seen=lambda h: store.find_by_hash(h) is not None)

    # --- the loop ----------------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        resumed = self._resume_jobs()
        if resumed:
            log.info("resuming %d candidate(s) that were in flight", len(resumed))
            self._evaluate(resumed)
        step = self.store.last_step() + 1
        failures, stopped = 0, ""
        while self._evaluated_count() < self.settings.iterations:
            batch: list[Job] = []
            wanted = min(self.settings.batch_size, self.settings.iterations - self._evaluated_count())
            while len(batch) < wanted:
                job = self._propose(step)
                step += 1
                if job is None:
                    failures += 1
                    if failures >= self.settings.max_proposal_failures:
                        stopped = (f"{failures} consecutive proposal steps gave no acceptable spec "
                                   "(see the rejected candidates); widen the budgets or change the proposer")
                        break
                    continue
                failures = 0
                batch.append(job)
            if batch:
                self._evaluate(batch)
            if stopped:
                log.warning("search stopped: %s", stopped)
                self.store.update_info(stopped_reason=stopped)
                break
        return SearchOutcome(self._evaluated_count(), current_front(self.store, self.constraints, self.settings.objectives),
                             stopped)

    def _evaluated_count(self) -> int:
        return len(self.store.candidates(EVALUATED))

    # --- proposing ---------------------------------------------------------------------------------------
    def context(self, step: int) -> ProposalContext:
        history = [c for c in self.store.candidates() if c.finished]
        return ProposalContext(step=step, space=self.space, history=history,
                               front=current_front(self.store, self.constraints, self.settings.objectives),
                               budgets=self.budgets.as_dict(), board=self.board, task=self.task,
                               check=self.screener.check,
                               record_rejection=lambda result, by: self._record_rejection(step, result, by),
                               record_exchange=self._record_exchange)

    def _propose(self, step: int) -> Job | None:
        rng = random.Random(derive_seed(self.settings.seed, "propose", step))
        try:
            accepted: CheckResult = self.proposer.propose(self.context(step), rng)
        except ProposalError as exc:
            self.store.add_candidate(step, self.proposer.name, None, None, status="rejected", stage="propose",
                                     reason=str(exc))
            self.on_change(self.store, None)
            return None
        candidate_id = self.store.add_candidate(step, self.proposer.name, accepted.spec_dict, accepted.spec_hash,
                                                metrics=_analytic(accepted.cost))
        self.on_change(self.store, None)
        return self._job(candidate_id, accepted.spec_dict or {}, accepted.spec_hash or "")

    def _job(self, candidate_id: int, spec: dict[str, Any], spec_hash: str) -> Job:
        workdir = Path(self.store.run_dir) / "candidates" / f"{candidate_id:05d}"
        return Job(candidate_id, spec, derive_seed(self.settings.seed, "train", spec_hash), str(workdir))

    def _record_rejection(self, step: int, result: CheckResult, by: str) -> None:
        reason = "; ".join(result.problems)
        spec_hash = result.spec_hash
        if spec_hash is not None and self.store.find_by_hash(spec_hash) is not None:
            spec_hash = None  # the hash is already taken by the first candidate with that spec
        self.store.add_candidate(step, self.proposer.name, result.spec_dict, spec_hash, status="rejected",
                                 stage=f"screen ({result.kind}, {by})", reason=reason, metrics=_analytic(result.cost))
        self.on_change(self.store, None)

    def _record_exchange(self, exchange: LLMExchange) -> None:
        self.store.add_llm_exchange(exchange)

    # --- evaluating --------------------------------------------------------------------------------------
    def _resume_jobs(self) -> list[Job]:
        jobs = []
        for candidate in self.store.candidates(IN_PROGRESS):
            self.store.update_candidate(candidate.id, status="proposed", stage="resumed")
            jobs.append(self._job(candidate.id, candidate.spec or {}, candidate.spec_hash or ""))
        return jobs

    def _evaluate(self, jobs: list[Job]) -> None:
        for event in self.executor.run(jobs, self.stages):
            self._apply(event)
            self.on_change(self.store, event)

    def _apply(self, event: StageEvent) -> None:
        status, reason, stage = event.status, event.reason, event.stage
        if status == "measured":
            merged = {**self.store.get_candidate(event.candidate_id).metrics, **event.metrics}
            if event.metrics.get("bit_exact") is False:
                status, reason = "failed", "board outputs differ from the int8 reference interpreter (runtime bug)"
            else:
                problems = self.constraints.violations(merged)
                if problems:
                    status, reason = "infeasible", "measured over budget: " + "; ".join(problems)
        self.store.update_candidate(event.candidate_id, status=status, stage=stage, reason=reason, metrics=event.metrics,
                                    provenance=event.provenance, artefacts=event.artefacts, timings=event.timings)


def _analytic(cost: dict[str, Any]) -> dict[str, Any]:
    """Analytic cost under names that cannot be mistaken for measured ones (MACs are only ever analytic)."""
    metrics = {}
    for key, value in cost.items():
        metrics[key if key in ("macs", "params") else f"analytic_{key}"] = value
    return metrics
