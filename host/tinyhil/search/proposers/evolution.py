"""Mutation and crossover from the current front (the offline default).

Parents come from the measured candidates ranked NSGA-II style (front first, then crowding distance);
binary tournaments pick them. Until two candidates are measured, specs are drawn at random.

Under multi-fidelity a candidate's accuracy is that of the last rung it completed, and an accuracy after 1/9 of
the proxy budget is far below, and a noisier ranking than, one after all of it. So candidates are ranked within
their rung, the highest rung first (parent_order): the ones ASHA carried further (the top 1/eta of a rung, on the
same multi-objective order) are the first parents, and a candidate is never compared on accuracies from different
budgets. With single fidelity every candidate is at rung 0 and this is the plain NSGA-II order.
"""

from __future__ import annotations

import random
from typing import Sequence

from ..pareto import rank_for_selection
from ..store import Candidate
from .base import CheckResult, ProposalContext, ProposalError, first_acceptable


class EvolutionProposer:
    name = "evolution"

    def __init__(self, tries: int = 50, crossover_rate: float = 0.5, parent_pool: int = 8):
        self.tries = tries
        self.crossover_rate = crossover_rate
        self.parent_pool = parent_pool

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        measured = [c for c in context.history if c.status == "measured" and c.spec is not None]
        if len(measured) < 2:
            return first_acceptable(context, lambda: context.space.random_spec(rng), self.tries, self.name)
        pool = [measured[i] for i in parent_order(measured)[: self.parent_pool]]
        parents = [self._to_spec(context, c.spec) for c in pool]

        def pick() -> object:
            # binary tournament on the selection order: the lower position wins
            a, b = rng.randrange(len(parents)), rng.randrange(len(parents))
            return parents[min(a, b)]

        def draw() -> object:
            if rng.random() < self.crossover_rate:
                child = context.space.crossover(pick(), pick(), rng)
                return context.space.mutate(child, rng)
            return context.space.mutate(pick(), rng)

        return first_acceptable(context, draw, self.tries, self.name)

    @staticmethod
    def _to_spec(context: ProposalContext, spec_dict: dict) -> object:
        # a measured spec checks as a duplicate, but the check still parses it into the space's ArchSpec
        parsed = context.check(spec_dict).spec
        if parsed is None:
            raise ProposalError(f"stored spec no longer parses in this space: {spec_dict}")
        return parsed


def parent_order(measured: Sequence[Candidate]) -> list[int]:
    """Indices of `measured`, best parent first: by the multi-fidelity rung completed (highest first), then NSGA-II
    order among the candidates of that rung (their accuracies all from the same part of the proxy budget)."""
    order: list[int] = []
    for rung in sorted({int(c.metrics.get("rung") or 0) for c in measured}, reverse=True):
        members = [i for i, c in enumerate(measured) if int(c.metrics.get("rung") or 0) == rung]
        order.extend(members[j] for j in rank_for_selection([measured[i].metrics for i in members]))
    return order
