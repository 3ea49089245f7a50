"""Known architectures first: a wrapper that proposes the given seed specs (each once, in order) before handing
every later step to the wrapped proposer. The seeds are measured like any candidate, so they are in the first
generation of the evolution and in the history and front the LLM is shown from its first call."""

from __future__ import annotations

import random
from typing import Any

from .base import CheckResult, ProposalContext, Proposer

SEED_PROPOSER = "seed"


class SeededProposer:
    def __init__(self, inner: Proposer, seeds: list[dict[str, Any]]):
        self.inner = inner
        self.pending = list(seeds)
        self._last = inner.name

    @property
    def name(self) -> str:
        """'seed' right after a seed was proposed (the loop records the candidate under it), else the inner's."""
        return self._last

    def __getattr__(self, attribute: str) -> Any:  # endpoint, schema_constrained, ...: the inner proposer's
        if attribute == "inner":
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        while self.pending:
            result = context.check(self.pending.pop(0))
            if result.ok:
                self._last = SEED_PROPOSER
                return result
            if result.kind != "duplicate":  # a duplicate: measured before this run was resumed
                context.record_rejection(result, "seed spec")
        self._last = self.inner.name
        return self.inner.propose(context, rng)
