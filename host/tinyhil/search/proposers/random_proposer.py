"""The baseline: uniform samples from the space."""

from __future__ import annotations

import random

from .base import CheckResult, ProposalContext, first_acceptable


class RandomProposer:
    name = "random"

    def __init__(self, tries: int = 50):
        self.tries = tries

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        return first_acceptable(context, lambda: context.space.random_spec(rng), self.tries, self.name)
