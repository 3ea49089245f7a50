"""Multi-fidelity proxy training: asynchronous successive halving (ASHA; Li et al., "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020), its promotion form.

Rung i trains a candidate to eta^-(rungs-1-i) of the proxy budget (1/9, 1/3 and 1 of it with eta 3 and 3
rungs; the budget is counted in optimiser steps). Whenever the search is about to propose a new candidate, it
first looks for a promotion: a candidate in the top floor(n / eta) of the n that completed some rung below the
last, not yet gone on from it; that one trains on to the next rung (from its rung-i weights) instead. The others
wait at their rung with their rung-i accuracy (and may go on later, as more candidates reach it). "Ranks" is the search's own
multi-objective order (Pareto rank, then crowding distance, then accuracy; promotion_order) with each
candidate's accuracy at rung i: only accuracy changes with training, so a small, fast net with a modest
accuracy can go on, as it can be on the front. The board measurement does not depend on the weights: each
spec is built and measured once, after rung 0.

Why not a library scheduler: Optuna's SuccessiveHalvingPruner ranks one scalar and Optuna refuses pruning in
multi-objective studies (Trial.report raises for them), and Ray Tune's ASHAScheduler only schedules trials
that Tune's own runner launches and checkpoints; this loop owns the proposer, the executors and the run store,
and resumes from that store after kill -9 (a promotion is written before the candidate trains on, so a resumed
run continues exactly the promoted candidates whose next rung had not finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..errors import ConfigError
from .pareto import DEFAULT_OBJECTIVES, Metrics, Objective, crowding_distance, non_dominated_sort, objective_vector

RUNGS_RANGE = (1, 5)  # 1 rung: single fidelity (every candidate gets the whole proxy budget)
ETA_RANGE = (2, 6)


def rungs_for(evaluations: int, eta: int, most: int = 3) -> int:
    """The default number of rungs: the most (up to `most`, at least 2) that `evaluations` candidates can fill,
    eta^(rungs-1) <= evaluations, so that ASHA takes at least one of them to the whole proxy budget (with 6
    evaluations and eta 3, three rungs would leave every candidate at 1/9 or 1/3 of it)."""
    rungs = 2
    while rungs < most and eta ** rungs <= evaluations:
        rungs += 1
    return rungs


@dataclass(frozen=True)
class Fidelity:
    rungs: int = 1
    eta: int = 3

    def __post_init__(self) -> None:
        for name, value, (low, high) in (("rungs", self.rungs, RUNGS_RANGE), ("eta", self.eta, ETA_RANGE)):
            if not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"multi-fidelity {name} {value!r} is not an integer in [{low}, {high}]; "
                                  f"e.g. --rungs 3 --eta 3")

    @property
    def multi(self) -> bool:
        return self.rungs > 1

    @property
    def last(self) -> int:
        return self.rungs - 1

    def fraction(self, rung: int) -> Fraction:
        """The part of the proxy budget a candidate has been trained for once it completes `rung`."""
        return Fraction(1, self.eta ** (self.last - rung))

    def budget(self, rung: int) -> tuple[float, float]:
        """(trained before, trained after) this rung, as fractions of the proxy budget."""
        return (float(self.fraction(rung - 1)) if rung > 0 else 0.0, float(self.fraction(rung)))

    def describe(self, rung: int) -> str:
        fraction = self.fraction(rung)
        part = "the whole proxy budget" if fraction == 1 else f"{fraction} of the proxy budget"
        return f"rung {rung}/{self.last} ({part})"

    def summary(self) -> str:
        if not self.multi:
            return "single fidelity: every candidate trains for the whole proxy budget"
        fractions = ", ".join(str(self.fraction(r)) for r in range(self.rungs))
        return (f"multi-fidelity (ASHA, eta {self.eta}): rungs at {fractions} of the proxy budget; the top 1/{self.eta} "
                "at each rung train on")


def promotion_order(pool: Sequence[Metrics], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> list[int]:
    """Indices best first: Pareto rank, then crowding distance (NSGA-II, as in MO-ASHA), then accuracy. With five
    objectives and few candidates most points are boundary points (infinite crowding distance): among those,
    the more accurate goes first, as accuracy is what further training refines."""
    vectors = [objective_vector(m, objectives) for m in pool]
    accuracy = [float(m.get("accuracy") or 0.0) for m in pool]
    order: list[int] = []
    for front in non_dominated_sort(vectors):
        crowd = crowding_distance([vectors[i] for i in front])
        order.extend(i for _, i in sorted(zip(crowd, front), key=lambda pair: (-pair[0], -accuracy[pair[1]], pair[1])))
    return order


@dataclass(frozen=True)
class RungRecord:
    """A measured, feasible candidate as the scheduler sees it: its last completed rung and, for each completed
    rung, its metrics with that rung's accuracy."""

    candidate_id: int
    rung: int
    at: dict[int, Metrics]
    promotable: bool = True  # False once training on from its rung failed: it keeps its place, it is not retried


def next_promotion(records: Sequence[RungRecord], fidelity: Fidelity,
                   objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> tuple[int, int, str] | None:
    """ASHA's promotion step (Li et al., Algorithm 2): from the highest rung down, the first candidate in the top
    floor(n / eta) of the n that completed that rung which has not gone on yet; (candidate id, next rung, why),
    or None: then the search grows the bottom rung with a new candidate. With fewer than eta candidates at a rung
    nobody goes on from it, so the first candidates are not trained to the full budget by default.

    No quota: with proposers that improve, most newcomers rank in the top part and go on (37 of 69 in one
    evolution run). A quota of floor(n / eta) per rung was measured (README, search benchmark, commit cb8f614):
    ~2.9x single fidelity's candidates per hour instead of ~2x, but a lower hypervolume after the same time on 5
    of 6 seeds, as fewer good candidates reached the whole proxy budget; so the better newcomers keep going on."""
    for rung in reversed(range(fidelity.last)):
        members = [r for r in records if rung in r.at]
        keep = len(members) // fidelity.eta
        if keep == 0:
            continue
        order = promotion_order([r.at[rung] for r in members], objectives)
        for position, index in enumerate(order[:keep], start=1):
            if members[index].rung == rung and members[index].promotable:
                return (members[index].candidate_id, rung + 1,
                        f"promoted to rung {rung + 1}: ranked {position} of {len(members)} at rung {rung} "
                        f"(top {keep} go on)")
    return None
