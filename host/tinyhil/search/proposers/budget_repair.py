"""The nearest acceptable spec to a rejected one, found by small steps in the space.

The LLM proposer's fallback when its repair rounds end without an acceptable spec: a small model told that its
26.8 M-MAC spec is over a 5 M budget often sends it again, or another spec already taken, every round, and the
step would be lost. Greedy descent on the analytic overshoot (the sum, over the budgets a spec exceeds, of
log(cost / budget)): each step tries a few single-choice mutations (space.mutate) of the current spec and moves to
the one that overshoots least, if that is less than now; the first mutation that passes every check is the result.
It keeps most of the model's design, and the store labels it "llm+repair", so the record says which candidates are
the model's own specs and which are repairs of them.
"""

from __future__ import annotations

import math
import random

from ..screening import ANALYTIC_CHECKS
from .base import CheckResult, ProposalContext

MUTATIONS_PER_STEP = 8
MAX_CHECKS = 240  # an analytic check is a few ms: the fallback costs well under a second of a step
REPAIRED_BY = "llm+repair"


def overshoot(result: CheckResult, budgets: dict[str, int | None]) -> float:
    """How far over its budgets a checked spec is (0 within all of them; inf when its cost is unknown: a duplicate)."""
    if result.kind == "duplicate" or not result.cost:
        return math.inf
    total = 0.0
    for field, budget in ANALYTIC_CHECKS:
        limit, value = budgets.get(budget), result.cost.get(field)
        if limit and value is not None and value > limit:
            total += math.log(value / limit)
    return total


def nearest_acceptable(context: ProposalContext, start: CheckResult, rng: random.Random,
                       max_checks: int = MAX_CHECKS) -> CheckResult | None:
    """An accepted CheckResult a few mutations away from `start` (a parsed spec that was over budget or a
    duplicate), or None when `start` did not parse or the descent found none within `max_checks` checks."""
    if start.spec is None:
        return None
    current, current_overshoot, checks = start.spec, overshoot(start, context.budgets), 0
    while checks < max_checks:
        best, best_overshoot = None, math.inf
        for _ in range(MUTATIONS_PER_STEP):
            child = context.space.mutate(current, rng)
            checks += 1
            result = context.check(child)
            if result.ok:
                return result
            if result.kind != "invalid" and overshoot(result, context.budgets) < best_overshoot:
                best, best_overshoot = result, overshoot(result, context.budgets)
        if best is not None and best_overshoot < current_overshoot:
            current, current_overshoot = best.spec, best_overshoot
    return None
