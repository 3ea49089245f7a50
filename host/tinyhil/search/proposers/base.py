"""The one interface every proposer implements, and what it is given to work with.

A proposer turns the search state (history, front, budgets, board) into one new architecture spec that
passed `context.check`: valid in the space, within the analytic budget, not seen before. It never trains
or measures anything and never runs anything it was sent.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ...errors import TinyhilError
from ..store import Candidate, LLMExchange


class ProposalError(TinyhilError):
    """The proposer could not produce an acceptable spec this step (the reason is recorded, the search goes on)."""


@dataclass
class CheckResult:
    """Outcome of validating a proposed spec: `spec` is the space's ArchSpec when `problems` is empty."""

    spec: Any | None
    spec_dict: dict[str, Any] | None
    spec_hash: str | None
    cost: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    kind: str = "ok"  # ok | invalid | over_budget | duplicate
    reasoning: str = ""  # what the proposer said about the spec (the LLM's reasoning field), kept in the store
    proposed_by: str = ""  # the store's proposer label when it is not the proposer's name ("llm+repair")

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ProposalContext:
    step: int
    space: Any  # tinyhil.spec.space.SearchSpace
    history: list[Candidate]  # every finished candidate so far, oldest first
    front: list[Candidate]  # the current feasible Pareto front
    budgets: dict[str, int | None]  # macs, peak_sram_bytes, flash_bytes
    board: dict[str, Any]  # name, kind, cpu, clock_hz, latency_unit
    task: dict[str, Any]  # dataset, provenance, input_shape, num_classes
    check: Callable[[Any], CheckResult]  # a dict (LLM) or an ArchSpec (offline proposers)
    record_rejection: Callable[[CheckResult, str], None]
    record_exchange: Callable[[LLMExchange], None]


class Proposer(Protocol):
    name: str

    def propose(self, context: ProposalContext, rng: random.Random) -> CheckResult:
        """Return an accepted CheckResult or raise ProposalError."""


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from the run seed and anything naming the step or candidate (executor-independent)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def first_acceptable(context: ProposalContext, draw: Callable[[], Any], tries: int, what: str) -> CheckResult:
    """Draw specs until one passes the checks; over-budget ones are recorded, duplicates only counted."""
    duplicates = 0
    for _ in range(tries):
        result = context.check(draw())
        if result.ok:
            return result
        if result.kind == "duplicate":
            duplicates += 1
        else:
            context.record_rejection(result, what)
    raise ProposalError(f"{what}: no acceptable spec in {tries} draws ({duplicates} duplicates); "
                        "widen the budgets (--budget-*) or the space")
