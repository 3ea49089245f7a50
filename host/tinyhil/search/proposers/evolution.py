"""Mutation and crossover from the current front (the offline default).

Parents come from the measured candidates ranked NSGA-II style (front first, then crowding distance);
binary tournaments pick them. Until two candidates are measured, specs are drawn at random.
"""

from __future__ import annotations

import random

from ..pareto import rank_for_selection
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
        order = rank_for_selection([c.metrics for c in measured])
        pool = [measured[i] for i in order[: self.parent_pool]]
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
