"""Proposers behind one interface, picked by name."""

from __future__ import annotations

from typing import Any, Callable

from ...errors import ConfigError
from .base import CheckResult, ProposalContext, ProposalError, Proposer, derive_seed
from .evolution import EvolutionProposer
from .random_proposer import RandomProposer
from .seeded import SeededProposer

OFFLINE: dict[str, Callable[[], Any]] = {"evolution": EvolutionProposer, "random": RandomProposer}
NAMES = ("llm", "evolution", "random")


def make_offline(name: str) -> Proposer:
    try:
        return OFFLINE[name]()
    except KeyError:
        raise ConfigError(f"unknown proposer {name!r}; choose one of {', '.join(NAMES)}") from None


__all__ = ["CheckResult", "ProposalContext", "ProposalError", "Proposer", "derive_seed", "make_offline", "NAMES",
           "EvolutionProposer", "RandomProposer", "SeededProposer"]
