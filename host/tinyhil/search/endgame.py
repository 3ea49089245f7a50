"""Finishing the front before a time budget ends (multi-fidelity only).

Under ASHA most candidates wait at a low rung, and the front at the end of a time-bounded search holds members
whose accuracy is that of 1/9 or 1/3 of the proxy budget: an underestimate, and a noisier one, of what they reach,
and the winners are picked from that front. So once the time left is no more than what the front's unfinished
members need to reach the last rung (their training so far, scaled to the rest of the budget, plus one export
each), the loop stops starting new candidates and trains the front on instead, one rung at a time, the best of
them first (ASHA's own order). Promotions due by ASHA's rule and new candidates resume whenever every front member
is finished. Single-fidelity runs and runs without a time budget never enter it.

Off by default (`tinyhil search --finish-front`): in the search benchmark (evolution, 480 s, seeds 5-7, side by
side with plain ASHA) it changed the hypervolume after 480 s by -0.001, +0.001 and -0.020, as the small nets there
train to the whole budget in seconds and the time it took went to fewer new candidates. It is for fronts whose
accuracies should all be whole-budget ones when the time is up.
"""

from __future__ import annotations

from typing import Sequence

from .fidelity import Fidelity, promotion_order
from .pareto import DEFAULT_OBJECTIVES, Objective
from .store import Candidate


def unfinished(front: Sequence[Candidate], fidelity: Fidelity) -> list[Candidate]:
    """Front members that can train on: below the last rung, no rung pending, no failed rung."""
    return [c for c in front if c.metrics.get("rung") is not None and int(c.metrics["rung"]) < fidelity.last
            and c.metrics.get("rung_pending") is None and c.metrics.get("rung_failed") is None]


def seconds_to_finish(candidate: Candidate, fidelity: Fidelity) -> float:
    """Estimated wall-clock to take `candidate` from its rung to the last: training so far scaled by the part of
    the budget left (training time is linear in optimiser steps), plus one export (the last rung's int8 export)."""
    done = float(fidelity.fraction(int(candidate.metrics["rung"])))
    train_s, export_s = candidate.timings.get("train", 0.0), candidate.timings.get("export", 0.0)
    return train_s * (1.0 - done) / done + export_s / max(1, int(candidate.metrics["rung"]) + 1)


def next_to_finish(front: Sequence[Candidate], fidelity: Fidelity, remaining_s: float,
                   objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> tuple[Candidate, str] | None:
    """The front member to train on next, with why, when `remaining_s` is no more than the front needs; else None."""
    if not fidelity.multi:
        return None
    members = unfinished(front, fidelity)
    if not members:
        return None
    needed = sum(seconds_to_finish(c, fidelity) for c in members)
    if remaining_s > needed:
        return None
    best = members[promotion_order([c.metrics for c in members], objectives)[0]]
    rung = int(best.metrics["rung"]) + 1
    return best, (f"promoted to rung {rung}: finishing the front ({len(members)} member(s) below the last rung "
                  f"need ~{needed:.0f} s, {max(0.0, remaining_s):.0f} s of the time budget left)")
