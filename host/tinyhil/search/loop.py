"""The search loop: propose -> screen (space, analytic budget, duplicates) -> proxy-train -> export ->
measure -> store -> select, until `iterations` candidates have been evaluated.

The loop never knows which runner measures or which executor runs the stages. Seeds come from the run
seed and the step (proposer) or spec hash (training), so a seeded run evaluates the same set of
candidates on every executor for the same batch size. Resuming re-runs only the candidates that were in
flight when the process died; finished ones are read back from the store.

With multi-fidelity (fidelity.py) a candidate first trains for a small part of the proxy budget and is
measured; before each new proposal the loop looks for an ASHA promotion, and a promoted candidate trains on
from its last rung instead. A candidate counts as evaluated once its first rung is measured; a promotion is
stored (rung_pending) before the candidate trains on, so a resumed run continues it from its last finished rung.
Near the end of a time budget the front's members below the last rung train on first (endgame.py).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import options
from .endgame import next_to_finish
from .evaluation import Job, StageEvent, Stages
from .executors import Executor
from .fidelity import Fidelity, RungRecord, next_promotion
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
    fidelity: Fidelity = field(default_factory=Fidelity)  # default: single fidelity
    time_budget_s: float | None = None  # no new proposals after this much wall-clock (in-flight ones finish)
    finish_front: bool = False  # near the end of the time budget, train the front's members on first (endgame.py)

    def __post_init__(self) -> None:  # a batch of 0 would propose nothing, forever
        options.ITERATIONS.check(self.iterations, "search settings")
        options.BATCH_SIZE.check(self.batch_size, "search settings")


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
        self.screener = Screener(spec_type, estimate, budgets, seen=lambda h: earlier_candidate(store, h))

    # --- the loop ----------------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        resumed = self._resume_jobs()
        if resumed:
            log.info("resuming %d candidate(s) that were in flight", len(resumed))
            self._evaluate(resumed)
        step = self.store.last_step() + 1
        failures, stopped = 0, ""
        started = time.monotonic()
        while self._evaluated_count() < self.settings.iterations:
            if self.settings.time_budget_s is not None and time.monotonic() - started >= self.settings.time_budget_s:
                stopped = f"the time budget of {self.settings.time_budget_s:g} s is spent"
                log.info("search stopped: %s", stopped)
                self.store.update_info(stopped_reason=stopped)
                break
            promoted = self._finish_front(started) or self._promote()
            if promoted is not None:  # ASHA: a promotion before a new candidate
                self._evaluate([promoted])
                continue
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
        if not stopped:  # every evaluation is in: the promotions now due still train on (ASHA's top 1/eta per rung)
            while (promoted := self._promote()) is not None:
                self._evaluate([promoted])
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
        candidate_id = self.store.add_candidate(step, accepted.proposed_by or self.proposer.name, accepted.spec_dict,
                                                accepted.spec_hash, metrics=_analytic(accepted.cost),
                                                reasoning=accepted.reasoning)
        self.on_change(self.store, None)
        return self._job(candidate_id, accepted.spec_dict or {}, accepted.spec_hash or "")

    def _job(self, candidate_id: int, spec: dict[str, Any], spec_hash: str) -> Job:
        workdir = Path(self.store.run_dir) / "candidates" / f"{candidate_id:05d}"
        return Job(candidate_id, spec, derive_seed(self.settings.seed, "train", spec_hash), str(workdir),
                   budget=self.settings.fidelity.budget(0))

    def _record_rejection(self, step: int, result: CheckResult, by: str) -> None:
        reason = "; ".join(result.problems)
        spec_hash = result.spec_hash
        if spec_hash is not None and self.store.find_by_hash(spec_hash) is not None:
            spec_hash = None  # the hash is already taken by the first candidate with that spec
        self.store.add_candidate(step, self.proposer.name, result.spec_dict, spec_hash, status="rejected",
                                 stage=f"screen ({result.kind}, {by})", reason=reason, metrics=_analytic(result.cost),
                                 reasoning=result.reasoning)
        self.on_change(self.store, None)

    def _record_exchange(self, exchange: LLMExchange) -> None:
        self.store.add_llm_exchange(exchange)

    # --- evaluating --------------------------------------------------------------------------------------
    def _resume_jobs(self) -> list[Job]:
        jobs = []
        for candidate in self.store.candidates(IN_PROGRESS):
            self.store.update_candidate(candidate.id, status="proposed", stage="resumed")
            jobs.append(self._job(candidate.id, candidate.spec or {}, candidate.spec_hash or ""))
        for candidate in self.store.candidates("measured"):  # promoted, next rung not finished when the run died
            if candidate.metrics.get("rung_pending") is not None:
                jobs.append(self._next_rung_job(candidate))
        return jobs

    def _next_rung_job(self, candidate: Candidate) -> Job:
        rung = int(candidate.metrics["rung_pending"])
        previous = candidate.metrics["rung_history"][-1]
        first = self._job(candidate.id, candidate.spec or {}, candidate.spec_hash or "")
        return dataclasses.replace(first, rung=rung, budget=self.settings.fidelity.budget(rung),
                                   init_checkpoint=previous["checkpoint"])

    def _evaluate(self, jobs: list[Job]) -> None:
        for event in self.executor.run(jobs, self.stages):
            self._apply(event)
            self.on_change(self.store, event)

    def _finish_front(self, started: float) -> Job | None:
        """Near the end of a time budget, the front's next member to train on (endgame.py), written to the store."""
        if self.settings.time_budget_s is None or not self.settings.fidelity.multi or not self.settings.finish_front:
            return None
        remaining = self.settings.time_budget_s - (time.monotonic() - started)
        front = current_front(self.store, self.constraints, self.settings.objectives)
        chosen = next_to_finish(front, self.settings.fidelity, remaining, self.settings.objectives)
        if chosen is None:
            return None
        candidate, why = chosen
        return self._promote_to(candidate.id, int(candidate.metrics["rung"]) + 1, why)

    def _promote_to(self, candidate_id: int, rung: int, why: str) -> Job:
        self.store.update_candidate(candidate_id, stage=f"rung {rung} promoted", metrics={"rung_pending": rung,
                                                                                          "promotion": why})
        log.info("candidate %d %s", candidate_id, why)
        return self._next_rung_job(self.store.get_candidate(candidate_id))

    def _promote(self) -> Job | None:
        """The next ASHA promotion, written to the store (rung_pending) before the candidate trains on."""
        fidelity = self.settings.fidelity
        if not fidelity.multi:
            return None
        records = []
        for c in self.store.candidates("measured"):
            history = c.metrics.get("rung_history") or []
            if not history or c.metrics.get("rung_pending") is not None or not self.constraints.feasible(c.metrics):
                continue
            records.append(RungRecord(c.id, int(c.metrics["rung"]),
                                      {int(h["rung"]): {**c.metrics, "accuracy": h["accuracy"]} for h in history},
                                      promotable=c.metrics.get("rung_failed") is None))
        chosen = next_promotion(records, fidelity, self.settings.objectives)
        if chosen is None:
            return None
        return self._promote_to(*chosen)

    def _apply(self, event: StageEvent) -> None:
        """Write the event into the store (a rung's result in the same transaction as its rung record)."""
        stored = self.store.get_candidate(event.candidate_id)
        if event.rung > 0:
            return self._apply_higher_rung(stored, event)
        status, reason, stage = event.status, event.reason, event.stage
        extra: dict[str, Any] = {}
        if status == "measured":
            merged = {**stored.metrics, **event.metrics}
            if event.metrics.get("bit_exact") is False:
                status, reason = "failed", "board outputs differ from the int8 reference interpreter (runtime bug)"
            else:
                problems = self.constraints.violations(merged)
                if problems:
                    status, reason = "infeasible", "measured over budget: " + "; ".join(problems)
            extra = self._rung_result(stored, merged, 0, stored.artefacts.get("checkpoint"), status == "measured")
        self.store.update_candidate(event.candidate_id, status=status, stage=stage, reason=reason,
                                    metrics={**event.metrics, **extra}, provenance=event.provenance,
                                    artefacts=event.artefacts, timings=event.timings)

    def _apply_higher_rung(self, stored: Candidate, event: StageEvent) -> None:
        """A promoted candidate's further training: its status stays measured (its board numbers are rung 0's);
        accuracies follow the rung; a failure falls back to the previous rung's."""
        rung = event.rung
        timings = {key: stored.timings.get(key, 0.0) + value for key, value in event.timings.items()}
        if event.status == "failed":
            previous = stored.metrics["rung_history"][-1]
            self.store.update_candidate(stored.id, stage=f"rung {rung} {event.stage}",
                                        reason=f"rung {rung} failed, kept rung {previous['rung']}: {event.reason}",
                                        metrics={**{k: previous.get(k) for k in _RUNG_FIELDS}, "rung_pending": None,
                                                 "rung_failed": rung},
                                        artefacts={"checkpoint": previous["checkpoint"], "tflite": previous["tflite"]},
                                        timings=timings)
            return
        if event.status in ("trained", "exported"):
            self.store.update_candidate(stored.id, stage=f"rung {rung} {event.stage}", metrics=event.metrics,
                                        artefacts=event.artefacts, timings=timings)
            return
        extra = self._rung_result(stored, stored.metrics, rung, stored.artefacts.get("checkpoint"), True)
        self.store.update_candidate(stored.id, stage=f"rung {rung}", metrics=extra)

    def _rung_result(self, stored: Candidate, metrics: dict[str, Any], rung: int, checkpoint: str | None,
                     feasible: bool) -> dict[str, Any]:
        """The rung's record (kept per rung in rung_history) and where the candidate stands, written with the rung's
        result in one transaction; promotions are decided later, by _promote."""
        fidelity = self.settings.fidelity
        kind = _with_budget(metrics.get("accuracy_kind"), fidelity, rung)
        entry = {"rung": rung, "fraction": float(fidelity.fraction(rung)), "done_at": time.time(),
                 "checkpoint": checkpoint, "tflite": stored.artefacts.get("tflite"),
                 **{k: metrics.get(k) for k in _RUNG_FIELDS}, "accuracy_kind": kind}
        history = [h for h in stored.metrics.get("rung_history", []) if h["rung"] < rung] + [entry]
        result: dict[str, Any] = {"rung": rung, "rungs": fidelity.rungs, "rung_history": history, "rung_pending": None,
                                  "proxy_budget_fraction": entry["fraction"], "accuracy_kind": kind}
        if not fidelity.multi:
            result["promotion"] = "single fidelity"
        elif rung == fidelity.last:
            result["promotion"] = f"completed the last rung: {fidelity.describe(rung)}"
        elif not feasible:
            result["promotion"] = "stops: not feasible"
        else:
            result["promotion"] = (f"waits at {fidelity.describe(rung)}: goes on when it ranks in the top 1/{fidelity.eta} "
                                   "of the candidates there")
        return result


# what a rung changes, kept per rung so a failed higher rung falls back to the one before
_RUNG_FIELDS = ("accuracy", "int8_accuracy", "float_accuracy", "accuracy_kind")


def _with_budget(kind: str | None, fidelity: Fidelity, rung: int) -> str | None:
    if kind is None or not fidelity.multi:
        return kind
    kind = kind.split(", after rung")[0]
    return f"{kind}, after {fidelity.describe(rung)}"


def _analytic(cost: dict[str, Any]) -> dict[str, Any]:
    """Analytic cost under names that cannot be mistaken for measured ones (MACs are only ever analytic)."""
    metrics = {}
    for key, value in cost.items():
        metrics[key if key in ("macs", "params") else f"analytic_{key}"] = value
    return metrics


EARLIER_REASON_CHARS = 240  # enough for one budget problem; a long training traceback is cut


def earlier_candidate(store: RunStore, spec_hash: str) -> str | None:
    """What became of the earlier candidate with this spec ("candidate 7, rejected: macs 26.8 M ... exceeds ..."),
    None when the spec is new: the screener repeats it in the duplicate's problem."""
    earlier = store.find_by_hash(spec_hash)
    if earlier is None:
        return None
    reason = earlier.reason
    if len(reason) > EARLIER_REASON_CHARS:
        reason = reason[:EARLIER_REASON_CHARS] + "..."
    return f"candidate {earlier.id}, {earlier.status}" + (f": {reason}" if reason else "")
