"""Checks a proposed spec before any training: valid in the space, within the analytic budget, new.

The analytic budget uses tinyhil.spec.cost: MACs against the MAC budget, the planned peak activation bytes
(a lower bound on peak SRAM) against the SRAM budget, the estimated flash against the flash budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import SpecError, TinyhilError
from ..units import format_bytes, format_count
from .proposers.base import CheckResult

log = logging.getLogger(__name__)

# the paper's hard budget: under 100 M MACs per inference (SRAM and flash budgets come from the board profile)
DEFAULT_MAC_BUDGET = 100_000_000

# analytic cost field -> the budget it is held against
ANALYTIC_CHECKS = (("macs", "macs"), ("peak_activation_bytes", "peak_sram_bytes"), ("flash_bytes", "flash_bytes"))


def _quantity(field: str, value: int) -> str:
    """'1.18 MiB' for byte fields, '31.21 M' for MACs: short enough for the summary table, exact enough to act on."""
    return format_bytes(value) if field.endswith("_bytes") else f"{format_count(value)} MACs"


@dataclass(frozen=True)
class Budgets:
    macs: int | None = None
    peak_sram_bytes: int | None = None
    flash_bytes: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {"macs": self.macs, "peak_sram_bytes": self.peak_sram_bytes, "flash_bytes": self.flash_bytes}


def cost_to_dict(cost: Any) -> dict[str, Any]:
    names = ("macs", "params", "peak_activation_bytes", "flash_bytes")
    return {name: int(getattr(cost, name)) for name in names if getattr(cost, name, None) is not None}


class Screener:
    """`check(spec_or_dict)` -> CheckResult. `spec_type` parses dicts (ArchSpec), `estimate` is the cost model,
    `seen(hash)` is falsy for a new spec, else True or a description of the earlier candidate (what became of it),
    which the duplicate's problem repeats: a proposer told only "duplicate" resends a spec rejected for its budget."""

    def __init__(self, spec_type: Any, estimate: Callable[[Any], Any], budgets: Budgets,
                 seen: Callable[[str], str | bool | None]):
        self.spec_type = spec_type
        self.estimate = estimate
        self.budgets = budgets
        self.seen = seen

    def check(self, proposed: Any) -> CheckResult:
        if isinstance(proposed, dict):
            try:
                spec = self.spec_type.from_dict(proposed)
            except (SpecError, TinyhilError) as exc:  # the space may raise its own SpecError with `problems`
                problems = list(getattr(exc, "problems", None) or [str(exc)])
                return CheckResult(None, proposed, None, problems=problems, kind="invalid")
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                return CheckResult(None, proposed, None, problems=[f"spec does not parse: {exc!r}"], kind="invalid")
        else:
            spec = proposed
        spec_dict, spec_hash = spec.to_dict(), spec.canonical_hash()
        earlier = self.seen(spec_hash)
        if earlier:
            what = f": {earlier}" if isinstance(earlier, str) else ""
            return CheckResult(spec, spec_dict, spec_hash, kind="duplicate",
                               problems=[f"duplicate of an earlier candidate ({spec_hash[:12]}){what}"])
        try:
            cost = cost_to_dict(self.estimate(spec))
        except TinyhilError as exc:
            return CheckResult(spec, spec_dict, spec_hash, problems=[f"cost model: {exc}"], kind="invalid")
        budgets = self.budgets.as_dict()
        problems = [f"{field} {_quantity(field, cost[field])} (analytic) exceeds the {budget} budget "
                    f"{_quantity(budget, budgets[budget])}"
                    for field, budget in ANALYTIC_CHECKS
                    if budgets[budget] is not None and field in cost and cost[field] > budgets[budget]]
        return CheckResult(spec, spec_dict, spec_hash, cost, problems, "over_budget" if problems else "ok")
