"""Multi-fidelity proxy training: asynchronous successive halving (ASHA; Li et al., "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020), in its stopping form.

Rung i trains a candidate to eta^-(rungs-1-i) of the proxy budget (1/9, 1/3 and 1 of it with eta 3 and 3
rungs; the budget is counted in optimiser steps). When a candidate completes rung i below the last, it
continues to rung i+1 (from its rung-i weights) if it ranks in the top max(1, n // eta) of the n candidates
that completed rung i so far, else it stops there and keeps its rung-i accuracy. "Ranks" is the search's own
multi-objective order (Pareto rank, then crowding distance, then accuracy; promotion_order) with each
candidate's accuracy at rung i: only accuracy changes with training, so a small, fast net with a modest
accuracy can go on, as it can be on the front. The board measurement does not depend on the weights: each
spec is built and measured once, after rung 0.

Why not a library scheduler: Optuna's SuccessiveHalvingPruner ranks one scalar and Optuna refuses pruning in
multi-objective studies (Trial.report raises for them), and Ray Tune's ASHAScheduler only schedules trials
that Tune's own runner launches and checkpoints; this loop owns the proposer, the executors and the run store,
and resumes from that store after kill -9 (each decision is written in the same transaction as the rung's
result, so a resumed run continues exactly the promoted candidates whose next rung had not finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..errors import ConfigError
from .pareto import DEFAULT_OBJECTIVES, Metrics, Objective, crowding_distance, non_dominated_sort, objective_vector

RUNGS_RANGE = (1, 5)  # 1 rung: single fidelity (every candidate gets the whole proxy budget)
ETA_RANGE = (2, 6)


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


def promotion(candidate: Metrics, peers: Sequence[Metrics], eta: int, rung: int,
              objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> tuple[bool, str]:
    """Whether a candidate that just completed `rung` goes on, and why. `peers`: the metrics of the other
    candidates that completed this rung, each with its accuracy at this rung. Ties go to the earlier peers."""
    pool = [*peers, candidate]
    order = promotion_order(pool, objectives)
    position = order.index(len(pool) - 1) + 1
    keep = max(1, len(pool) // eta)
    verdict = "continues" if position <= keep else "stops"
    return position <= keep, (f"{verdict}: ranked {position} of {len(pool)} at rung {rung} "
                              f"(top {keep} continue)")
